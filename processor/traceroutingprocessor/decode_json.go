package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"encoding/json"
	"strings"
)

// jsonObject is a trace config sent as a JSON object. Values are kept raw
// until a field asks for them, so a number keeps the exact digits it was
// sent with and keys nobody reads cost no decoding.
type jsonObject map[string]json.RawMessage

// parseJSON decodes a JSON object. Keys match exactly (case-sensitive); a
// key sent twice keeps its last value, as encoding/json does.
func parseJSON(raw []byte) (object, error) {
	var obj jsonObject
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errNotJSON
	}
	return obj, nil
}

func (o jsonObject) scalar(key string) (string, bool, error) {
	raw, ok := o[key]
	if !ok || len(raw) == 0 {
		return "", false, nil
	}
	var v string
	switch raw[0] {
	case 'n', '{', '[': // null reads as absent; objects and lists are ignored
		return "", false, nil
	case 't', 'f':
		v = string(raw) // true, false: json.Unmarshal already checked the literal
	case '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", false, errNotJSON
		}
	default:
		v = string(raw) // a number, as sent: 9007199254740993 and 1.50 stay exact
	}
	if v == "" {
		return "", false, nil
	}
	if err := checkValue(v); err != nil {
		return "", false, err
	}
	return v, true, nil
}

func (o jsonObject) list(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok || len(raw) == 0 || raw[0] == 'n' {
		return nil, nil
	}
	if raw[0] == '"' {
		// One string: names separated by "|", as in key=value form.
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errDestinationsShape
		}
		return splitList(s), nil
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		return nil, errDestinationsShape
	}
	return names, nil
}

// splitList splits a "|"-separated list of names, trimming spaces and
// skipping empty entries.
func splitList(s string) []string {
	var out []string
	for n := range strings.SplitSeq(s, kvListSeparator) {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
