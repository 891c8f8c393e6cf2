package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tracebound/tracebound/internal/destname"
)

// Limits on a trace config, from DESIGN.md; destination names follow
// destname.Valid, the rule the destinations exporter applies too.
const (
	// maxTraceConfigBytes bounds the encoded trace config (header value or
	// attribute), checked before any decoding.
	maxTraceConfigBytes = 8 << 10
	// maxDestinations bounds the destinations list, as sent (before duplicates
	// are removed).
	maxDestinations = 32
	// maxFieldChars bounds account, zone and workspace, in characters (runes).
	maxFieldChars = 256
)

// Errors of parseTraceConfig. A trace config that fails with any of them is
// "invalid".
var (
	errTooLarge            = fmt.Errorf("trace config is over %d bytes", maxTraceConfigBytes)
	errBase64              = errors.New("trace config is neither a JSON object nor base64url")
	errJSON                = errors.New("trace config is not a JSON object of the expected shape")
	errNoDestinations      = errors.New("trace config names no destinations")
	errTooManyDestinations = fmt.Errorf("trace config names more than %d destinations", maxDestinations)
	errDestinationName     = errors.New("trace config destination name must match " + destname.Pattern)
	errFieldTooLong        = fmt.Errorf("trace config field is over %d characters", maxFieldChars)
)

// traceConfig is a parsed, validated trace config.
type traceConfig struct {
	Account   string
	Zone      string
	Workspace string
	// Destinations holds valid names, in the order sent, without duplicates.
	Destinations []string
}

// parseTraceConfig parses a trace config sent as a JSON object, raw or
// base64url-encoded (padded or not). Surrounding spaces are ignored, unknown
// JSON fields are ignored, and JSON keys match exactly (case-sensitive).
// Work is bounded: input over maxTraceConfigBytes is rejected before decoding.
func parseTraceConfig(s string) (traceConfig, error) {
	if len(s) > maxTraceConfigBytes {
		return traceConfig{}, errTooLarge
	}
	s = strings.TrimSpace(s)
	var raw []byte
	if strings.HasPrefix(s, "{") {
		raw = []byte(s)
	} else {
		enc := base64.RawURLEncoding
		if strings.HasSuffix(s, "=") {
			enc = base64.URLEncoding
		}
		var err error
		if raw, err = enc.DecodeString(s); err != nil {
			return traceConfig{}, errBase64
		}
	}
	return decodeTraceConfig(raw)
}

func decodeTraceConfig(raw []byte) (traceConfig, error) {
	// A map gives exact key matching; encoding/json's struct decoding would
	// also accept "Account" or "ACCOUNT".
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return traceConfig{}, errJSON
	}
	var tc traceConfig
	var err error
	if tc.Account, err = decodeField(obj["account"]); err != nil {
		return traceConfig{}, err
	}
	if tc.Zone, err = decodeField(obj["zone"]); err != nil {
		return traceConfig{}, err
	}
	if tc.Workspace, err = decodeField(obj["workspace"]); err != nil {
		return traceConfig{}, err
	}
	if tc.Destinations, err = decodeDestinations(obj["destinations"]); err != nil {
		return traceConfig{}, err
	}
	return tc, nil
}

// decodeField decodes an optional string field; absent and null read as "".
func decodeField(v json.RawMessage) (string, error) {
	if v == nil {
		return "", nil
	}
	var s *string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", errJSON
	}
	if s == nil {
		return "", nil
	}
	if utf8.RuneCountInString(*s) > maxFieldChars {
		return "", errFieldTooLong
	}
	return *s, nil
}

func decodeDestinations(v json.RawMessage) ([]string, error) {
	if v == nil {
		return nil, errNoDestinations
	}
	var names []*string
	if err := json.Unmarshal(v, &names); err != nil {
		return nil, errJSON
	}
	if len(names) == 0 {
		return nil, errNoDestinations
	}
	if len(names) > maxDestinations {
		return nil, errTooManyDestinations
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == nil || !destname.Valid(*n) {
			return nil, errDestinationName
		}
		if !slices.Contains(out, *n) {
			out = append(out, *n)
		}
	}
	return out, nil
}
