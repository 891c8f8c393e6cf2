package route

import (
	"slices"
	"strings"
	"testing"
)

func TestJoinThenNamesRoundTrips(t *testing.T) {
	for _, names := range [][]string{
		{"tempo"},
		{"tempo", "vendor.eu-1", "my_backend"},
		{strings.Repeat("n", MaxNameLen), "a"},
	} {
		if got := slices.Collect(Names(Join(names))); !slices.Equal(got, names) {
			t.Errorf("Names(Join(%q)) = %q", names, got)
		}
	}
}

func TestNamesSkipsEmpty(t *testing.T) {
	for value, want := range map[string][]string{
		"":           nil,
		",":          nil,
		"a,,b":       {"a", "b"},
		",tempo,":    {"tempo"},
		"tempo":      {"tempo"},
		"bad name,x": {"bad name", "x"},
	} {
		if got := slices.Collect(Names(value)); !slices.Equal(got, want) {
			t.Errorf("Names(%q) = %q, want %q", value, got, want)
		}
	}
}

func TestNamesStopsWhenAsked(t *testing.T) {
	var seen []string
	for n := range Names("a,b,c") {
		seen = append(seen, n)
		if n == "b" {
			break
		}
	}
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Fatalf("saw %q", seen)
	}
}

func TestValidNameNeverHoldsTheSeparator(t *testing.T) {
	if ValidName("a" + Separator + "b") {
		t.Fatalf("a name holding %q would split into two", Separator)
	}
}

func BenchmarkNames(b *testing.B) {
	value := Join([]string{"tempo", "vendor", "audit"})
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for range Names(value) {
			n++
		}
		if n != 3 {
			b.Fatal(n)
		}
	}
}
