package destname

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var patternRegexp = regexp.MustCompile("^" + Pattern + "$")

func TestPatternNamesMaxLen(t *testing.T) {
	if !strings.HasSuffix(Pattern, "{1,"+strconv.Itoa(MaxLen)+"}") {
		t.Fatalf("Pattern %q does not bound names at MaxLen %d", Pattern, MaxLen)
	}
}

func TestValid(t *testing.T) {
	for name, want := range map[string]bool{
		"tempo":                       true,
		"vendor.eu-1":                 true,
		"my_backend":                  true,
		"A.Z-0_9":                     true,
		strings.Repeat("n", MaxLen):   true,
		"":                            false,
		strings.Repeat("n", MaxLen+1): false,
		"tempo prod":                  false,
		"vendor/eu":                   false,
		"tempo\n":                     false,
		"\ntempo":                     false,
		"tempé":                       false,
		"a\x00":                       false,
		strings.Repeat("é", MaxLen/2): false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v", name, got, want)
		}
		if got := patternRegexp.MatchString(name); got != want {
			t.Errorf("Pattern on %q = %v, want %v", name, got, want)
		}
	}
}

// FuzzValid checks that Valid and Pattern agree on every input.
func FuzzValid(f *testing.F) {
	for _, s := range []string{"tempo", "", "a b", "tempo\n", strings.Repeat("x", MaxLen+1), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := Valid(name), patternRegexp.MatchString(name); got != want {
			t.Fatalf("Valid(%q) = %v, Pattern says %v", name, got, want)
		}
	})
}
