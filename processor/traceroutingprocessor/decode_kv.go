package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import "strings"

// kvObject is a trace config sent as key=value pairs (zone=1;account=2).
type kvObject map[string]string

// parseKV decodes pairs separated by ";", "," or "&", spaces around keys
// and values trimmed, empty pairs skipped. A value may hold "=" (only the
// first one splits). A pair without "=" or with an empty key makes the whole
// config undecodable. A key sent twice keeps its last value, as in JSON.
func parseKV(s string) (object, error) {
	obj := make(kvObject)
	for pair := range strings.FieldsFuncSeq(s, isKVSeparator) {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, errNotKV
		}
		obj[key] = strings.TrimSpace(value)
	}
	if len(obj) == 0 {
		return nil, errNotKV
	}
	return obj, nil
}

func isKVSeparator(r rune) bool { return strings.ContainsRune(kvSeparators, r) }

func (o kvObject) scalar(key string) (string, bool, error) {
	v, ok := o[key]
	if !ok || v == "" {
		return "", false, nil
	}
	if err := checkValue(v); err != nil {
		return "", false, err
	}
	return v, true, nil
}

func (o kvObject) list(key string) ([]string, error) {
	v, ok := o[key]
	if !ok {
		return nil, nil
	}
	return splitList(v), nil
}
