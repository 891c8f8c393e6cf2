package route

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var patternRegexp = regexp.MustCompile("^" + NamePattern + "$")

func TestPatternNamesMaxNameLen(t *testing.T) {
	if !strings.HasSuffix(NamePattern, "{1,"+strconv.Itoa(MaxNameLen)+"}") {
		t.Fatalf("NamePattern %q does not bound names at MaxNameLen %d", NamePattern, MaxNameLen)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"tempo":                           true,
		"vendor.eu-1":                     true,
		"my_backend":                      true,
		"A.Z-0_9":                         true,
		strings.Repeat("n", MaxNameLen):   true,
		"":                                false,
		strings.Repeat("n", MaxNameLen+1): false,
		"tempo prod":                      false,
		"vendor/eu":                       false,
		"tempo\n":                         false,
		"\ntempo":                         false,
		"tempé":                           false,
		"a\x00":                           false,
		strings.Repeat("é", MaxNameLen/2): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
		if got := patternRegexp.MatchString(name); got != want {
			t.Errorf("NamePattern on %q = %v, want %v", name, got, want)
		}
	}
}

// FuzzValidName checks that Valid and NamePattern agree on every input.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"tempo", "", "a b", "tempo\n", strings.Repeat("x", MaxNameLen+1), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := ValidName(name), patternRegexp.MatchString(name); got != want {
			t.Fatalf("ValidName(%q) = %v, NamePattern says %v", name, got, want)
		}
	})
}
