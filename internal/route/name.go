package route // import "github.com/tracebound/tracebound/internal/route"

const (
	// MaxNameLen bounds a destination name, in bytes; valid names are ASCII.
	MaxNameLen = 128

	// NamePattern is the rule ValidName checks, as a regular expression
	// matched against the whole name, for error messages.
	NamePattern = "[A-Za-z0-9._-]{1,128}"
)

// ValidName reports whether name matches NamePattern. The pattern leaves out
// Separator, so a joined route splits back into the same names.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
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
