package traceroutingprocessor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracebound/tracebound/internal/route"
)

// FuzzDecide feeds any header value to the decoder and router of a
// processor with a routes table and an allow list. It checks that nothing
// panics, that input over the size limit is refused before decoding (so work
// is bounded by maxTraceConfigBytes), that every decision respects the
// limits, and that what was read survives a round trip through JSON.
// Seeds: the f.Add calls and testdata/fuzz/FuzzDecide.
// Run: go test -run '^$' -fuzz FuzzDecide -fuzztime 2000000x ./processor/traceroutingprocessor/
// A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
// end a clean run with a spurious "context deadline exceeded" failure and no
// failing input (go.dev/issue/75804, fixed in Go 1.27).
func FuzzDecide(f *testing.F) {
	for _, seed := range []string{
		`{"zoneId":12345,"accountId":42}`,
		`{"account_id":"7","zone_id":"z-1","destinations":["tempo","audit"]}`,
		`zone=1;account=2`,
		`destinations=tempo|x y;account=2`,
		base64.StdEncoding.EncodeToString([]byte(`{"accountId":9007199254740993}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"zone":"ÿÿ>>?","destinations":"tempo|eu"}`)),
		`{"account":1.50e-3,"zone":true,"workspace":null}`,
		`{"account":{"a":[1,{"b":2}]},"zone":[[[]]]}`,
		`{"zone":"a","zone":"b"}`, `a=b=c&&,;`, "=", "e30=", "{", "", "\x00", "\xff{",
	} {
		f.Add(seed)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Fields["tenant"] = []string{"tenant", "org"}
	cfg.AllowedDestinations = []string{"tempo", "audit", "eu"}
	cfg.Routes = []RouteConfig{
		{Match: map[string]any{"account": []any{"1", "42"}}, Destinations: []string{"tempo"}},
		{Match: map[string]any{"zone": "*"}, Destinations: []string{"eu", "audit"}},
	}
	cfg.OnUnrouted = PolicyDefault
	cfg.DefaultDestinations = []string{"audit"}
	r, err := newRouter(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		tc, err := r.decoder.decode(in)
		if len(in) > maxTraceConfigBytes && !errors.Is(err, errTooLarge) {
			t.Fatalf("input of %d bytes not refused as too large: %v", len(in), err)
		}
		d := r.decide(in)
		if err != nil {
			if d.fallback != reasonInvalid || len(d.stamps) != 0 {
				t.Fatalf("undecodable input decided %+v", d)
			}
			return
		}
		checkDecision(t, d)
		checkRoundTrip(t, r.decoder, tc)
	})
}

func checkDecision(t *testing.T, d *decision) {
	t.Helper()
	if len(d.names) > maxDestinations {
		t.Fatalf("%d destinations", len(d.names))
	}
	for i, n := range d.names {
		if !route.ValidName(n) || slices.Contains(d.names[:i], n) {
			t.Fatalf("route %q holds a bad or repeated name %q", d.route, n)
		}
	}
	if d.route != route.Join(d.names) {
		t.Fatalf("route %q does not join %q", d.route, d.names)
	}
	for _, s := range d.stamps {
		if s.value == "" || !utf8.ValidString(s.value) || utf8.RuneCountInString(s.value) > maxValueChars {
			t.Fatalf("stamp %s=%q breaks a limit", s.key, s.value)
		}
	}
}

// checkRoundTrip re-encodes what was read as a JSON object of strings,
// under each field's first key, and decodes it again.
func checkRoundTrip(t *testing.T, dec *decoder, tc traceConfig) {
	t.Helper()
	obj := map[string]any{}
	for i, v := range tc.values {
		if v != "" {
			obj[dec.fields[i].keys[0]] = v
		}
	}
	if tc.destinations != nil {
		obj[dec.destinationsKey] = tc.destinations
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxTraceConfigBytes {
		return // escaping may have grown it past the limit
	}
	again, err := dec.decode(string(b))
	if err != nil {
		t.Fatalf("re-encoded %s does not decode: %v", b, err)
	}
	if !slices.Equal(again.values, tc.values) || strings.Join(again.destinations, ",") != strings.Join(tc.destinations, ",") {
		t.Fatalf("round trip changed %+v into %+v", tc, again)
	}
}
