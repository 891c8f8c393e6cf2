package traceroutingprocessor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracebound/tracebound/internal/destname"
)

// FuzzParseTraceConfig checks that any header value parses without panic,
// that input over the size limit is refused before decoding, and that what
// is accepted respects every limit and survives a round trip.
// Seeds: the f.Add calls and testdata/fuzz/FuzzParseTraceConfig.
// Run: go test -run '^$' -fuzz FuzzParseTraceConfig -fuzztime 3000000x ./processor/traceroutingprocessor/
// A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
// end a clean run with a spurious "context deadline exceeded" failure and no
// failing input (go.dev/issue/75804, fixed in Go 1.27).
func FuzzParseTraceConfig(f *testing.F) {
	for _, seed := range []string{
		sampleConfig,
		base64.RawURLEncoding.EncodeToString([]byte(sampleConfig)),
		base64.URLEncoding.EncodeToString([]byte(`{"destinations":["a"],"x":"yz"}`)),
		`{"destinations":[]}`,
		`{"destinations":["a","a","b"],"account":null}`,
		`{"destinations":["a/b"]}`,
		`{"account":"` + strings.Repeat("é", 257) + `","destinations":["a"]}`,
		`{"extra":{"deep":[[[[{}]]]]},"destinations":["a"]}`,
		" {\"destinations\":[\"a\"]} ",
		"{", "", "=", "==", "e30", "e30=", "\x00", "\xff{",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tc, err := parseTraceConfig(in)
		if len(in) > maxTraceConfigBytes {
			if !errors.Is(err, errTooLarge) {
				t.Fatalf("input of %d bytes not refused as too large: %v", len(in), err)
			}
			return
		}
		if err != nil {
			if tc.Destinations != nil || tc.Account != "" {
				t.Fatalf("error %v with a non-zero config %+v", err, tc)
			}
			return
		}
		checkLimits(t, tc)

		// Round trip: the accepted config, re-encoded, parses the same.
		b, err := json.Marshal(map[string]any{
			"account": tc.Account, "zone": tc.Zone, "workspace": tc.Workspace, "destinations": tc.Destinations,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > maxTraceConfigBytes/2 {
			return // escaping may have grown it past the limit
		}
		again, err := parseTraceConfig(base64.RawURLEncoding.EncodeToString(b))
		if err != nil {
			t.Fatalf("re-encoded %s does not parse: %v", b, err)
		}
		if again.Account != tc.Account || again.Zone != tc.Zone || again.Workspace != tc.Workspace ||
			strings.Join(again.Destinations, ",") != strings.Join(tc.Destinations, ",") {
			t.Fatalf("round trip changed %+v into %+v", tc, again)
		}
	})
}

func checkLimits(t *testing.T, tc traceConfig) {
	t.Helper()
	if n := len(tc.Destinations); n == 0 || n > maxDestinations {
		t.Fatalf("accepted %d destinations", n)
	}
	seen := map[string]bool{}
	for _, d := range tc.Destinations {
		if !destname.Valid(d) {
			t.Fatalf("accepted destination name %q", d)
		}
		if seen[d] {
			t.Fatalf("destination %q twice", d)
		}
		seen[d] = true
	}
	for _, s := range []string{tc.Account, tc.Zone, tc.Workspace} {
		if utf8.RuneCountInString(s) > maxFieldChars {
			t.Fatalf("accepted a field of %d characters", utf8.RuneCountInString(s))
		}
	}
}
