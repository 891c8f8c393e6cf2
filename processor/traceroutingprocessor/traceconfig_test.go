package traceroutingprocessor

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleConfig = `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo","vendor"]}`

var sampleParsed = traceConfig{Account: "a1", Zone: "z1", Workspace: "w1", Destinations: []string{"tempo", "vendor"}}

func destinationsJSON(names ...string) string {
	return `{"destinations":["` + strings.Join(names, `","`) + `"]}`
}

func TestParseTraceConfigEncodings(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"raw JSON", sampleConfig},
		{"raw JSON with spaces", " \t" + sampleConfig + " "},
		{"base64url unpadded", base64.RawURLEncoding.EncodeToString([]byte(sampleConfig))},
		{"base64url padded", base64.URLEncoding.EncodeToString([]byte(sampleConfig))},
		{"unknown fields ignored", `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo","vendor"],"ttl":5,"extra":{"a":[1,2,{"b":null}]}}`},
		{"duplicate destinations kept once", `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo","vendor","tempo"]}`},
		{"keys in any order", `{"destinations":["tempo","vendor"],"workspace":"w1","zone":"z1","account":"a1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTraceConfig(tt.input)
			require.NoError(t, err)
			assert.Equal(t, sampleParsed, got)
		})
	}
}

func TestParseTraceConfigPaddingNeeded(t *testing.T) {
	// Lengths 1, 2 and 3 mod 3 exercise zero, two and one padding characters.
	for _, extra := range []string{"", "x", "xy"} {
		in := `{"destinations":["tempo"],"pad":"` + extra + `"}`
		for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding} {
			got, err := parseTraceConfig(enc.EncodeToString([]byte(in)))
			require.NoError(t, err, "%q", in)
			assert.Equal(t, []string{"tempo"}, got.Destinations)
		}
	}
}

func TestParseTraceConfigOptionalFields(t *testing.T) {
	got, err := parseTraceConfig(`{"account":null,"destinations":["tempo"]}`)
	require.NoError(t, err)
	assert.Equal(t, traceConfig{Destinations: []string{"tempo"}}, got)
}

func TestParseTraceConfigLimits(t *testing.T) {
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("d%d", i)
		}
		return out
	}
	field := func(key, value string) string {
		return `{"` + key + `":"` + value + `","destinations":["tempo"]}`
	}
	// Pads a valid config with an ignored field to exactly n bytes.
	sized := func(n int) string {
		base := `{"destinations":["tempo"],"pad":""}`
		return base[:len(base)-2] + strings.Repeat("p", n-len(base)) + `"}`
	}
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{"8 KiB accepted", sized(8 << 10), nil},
		{"8 KiB + 1 rejected", sized(8<<10 + 1), errTooLarge},
		{"8 KiB + 1 rejected even if base64", base64.RawURLEncoding.EncodeToString([]byte(sized(6200))), errTooLarge},
		{"32 destinations accepted", destinationsJSON(names(32)...), nil},
		{"33 destinations rejected", destinationsJSON(names(33)...), errTooManyDestinations},
		{"name of 128 accepted", destinationsJSON(strings.Repeat("n", 128)), nil},
		{"name of 129 rejected", destinationsJSON(strings.Repeat("n", 129)), errDestinationName},
		{"name with every allowed character", destinationsJSON("AZaz09._-"), nil},
		{"name with a slash rejected", destinationsJSON("vendor/eu"), errDestinationName},
		{"name with a space rejected", destinationsJSON("ven dor"), errDestinationName},
		{"name with non-ASCII rejected", destinationsJSON("tempé"), errDestinationName},
		{"empty name rejected", destinationsJSON(""), errDestinationName},
		{"null name rejected", `{"destinations":[null]}`, errDestinationName},
		{"account of 256 characters accepted", field("account", strings.Repeat("é", 256)), nil},
		{"account of 257 characters rejected", field("account", strings.Repeat("a", 257)), errFieldTooLong},
		{"zone of 257 characters rejected", field("zone", strings.Repeat("a", 257)), errFieldTooLong},
		{"workspace of 257 characters rejected", field("workspace", strings.Repeat("a", 257)), errFieldTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTraceConfig(tt.input)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestParseTraceConfigInvalid(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr error
	}{
		{"empty", "", errJSON},
		{"not base64", "%%%", errBase64},
		{"standard base64 alphabet", "+/+/", errBase64},
		{"base64 of non-JSON", base64.RawURLEncoding.EncodeToString([]byte("hello")), errJSON},
		{"truncated JSON", `{"destinations":["tempo"]`, errJSON},
		{"JSON array", `["tempo"]`, errBase64},
		{"JSON null via base64", base64.RawURLEncoding.EncodeToString([]byte("null")), errJSON},
		{"account not a string", `{"account":1,"destinations":["tempo"]}`, errJSON},
		{"destinations not a list", `{"destinations":"tempo"}`, errJSON},
		{"destination not a string", `{"destinations":[1]}`, errJSON},
		{"no destinations key", `{"account":"a1"}`, errNoDestinations},
		{"null destinations", `{"destinations":null}`, errNoDestinations},
		{"zero destinations", `{"destinations":[]}`, errNoDestinations},
		{"keys are case-sensitive", `{"Destinations":["tempo"]}`, errNoDestinations},
		{"trailing data", sampleConfig + `{}`, errJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTraceConfig(tt.input)
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}
