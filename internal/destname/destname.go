// Package destname holds the one rule destination names follow, shared by
// the trace_routing processor (names in trace configs and in its config) and
// the destinations exporter (the keys of its destinations), so a name one
// accepts is always a name the other accepts.
package destname // import "github.com/tracebound/tracebound/internal/destname"

const (
	// MaxLen bounds a name, in bytes; valid names are ASCII.
	MaxLen = 128

	// Pattern is the rule Valid checks, as a regular expression matched
	// against the whole name, for error messages.
	Pattern = "[A-Za-z0-9._-]{1,128}"
)

// Valid reports whether name matches Pattern.
func Valid(name string) bool {
	if len(name) == 0 || len(name) > MaxLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
