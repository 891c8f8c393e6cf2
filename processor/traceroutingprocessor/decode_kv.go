package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import "strings"

// kvObject is a trace config sent as key=value pairs (zone=1;account=2).
type kvObject map[string]string

// parseKV decodes pairs separated by ";", "," or "&", spaces around keys
// and values trimmed, empty pairs skipped. A value may hold "=" (only the
// first one splits). A pair without "=", or with a key that is not
// [A-Za-z0-9_.-]+, makes the whole config undecodable, and so does a config
// without a single non-empty value: so text that merely holds an "=" (base64
// padding, a sentence) is not read as an empty config. A key sent twice
// keeps its last value, as in JSON.
func parseKV(s string) (object, error) {
	obj := make(kvObject)
	hasValue := false
	for pair := range strings.FieldsFuncSeq(s, isKVSeparator) {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, value, ok := strings.Cut(pair, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || !validKVKey(key) {
			return nil, errNotKV
		}
		obj[key] = value
		hasValue = hasValue || value != ""
	}
	if !hasValue {
		return nil, errNotKV
	}
	return obj, nil
}

func validKVKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
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
