package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tracebound/tracebound/internal/route"
)

// Limits on a trace config, from DESIGN.md.
const (
	// maxTraceConfigBytes bounds the encoded trace config (header value or
	// attribute), checked before any decoding, so decoding work is bounded.
	maxTraceConfigBytes = 8 << 10
	// maxDestinations bounds a destination list, as sent (before duplicates
	// are removed).
	maxDestinations = 32
	// maxValueChars bounds the value of a routing field, in characters.
	maxValueChars = 256
)

// Errors of decoding. A trace config that fails with any of them is invalid.
var (
	errTooLarge            = fmt.Errorf("trace config is over %d bytes", maxTraceConfigBytes)
	errNotJSON             = errors.New("trace config is not a JSON object, raw or in base64")
	errNotKV               = errors.New("trace config is not key=value pairs")
	errUndecodable         = errors.New("trace config is neither a JSON object (raw or in base64) nor key=value pairs")
	errValueTooLong        = fmt.Errorf("trace config value is over %d characters", maxValueChars)
	errValueNotUTF8        = errors.New("trace config value is not valid UTF-8")
	errDestinationsShape   = errors.New("trace config destinations are not a list of names")
	errTooManyDestinations = fmt.Errorf("trace config names more than %d destinations", maxDestinations)
	errDestinationName     = errors.New("trace config destination name must match " + route.NamePattern)
	errSeveralHeaders      = errors.New("trace config header sent more than once")
	errAttributeType       = errors.New("trace.config resource attribute is not a string")
)

// kvSeparators separate the pairs of a key=value trace config.
const kvSeparators = ";,&"

// kvListSeparator separates the names of a destination list in key=value form.
const kvListSeparator = "|"

// traceConfig is a decoded trace config.
type traceConfig struct {
	// values holds each routing field's value, indexed like decoder.fields;
	// "" when absent.
	values []string
	// destinations holds the producer-named destinations, valid names in
	// the order sent without duplicates; nil when it names none.
	destinations []string
}

// field is one routing field: its name and the keys that may carry it.
type field struct {
	name string
	attr string // trace_config.<name>
	keys []string
}

// decoder reads trace configs in the configured format.
type decoder struct {
	format          Format
	fields          []field // sorted by name
	destinationsKey string  // "" ignores producer destinations
}

func newDecoder(cfg *Config) *decoder {
	d := &decoder{format: cfg.Format, destinationsKey: cfg.DestinationsKey}
	for _, name := range sortedFieldNames(cfg.Fields) {
		if keys := cfg.Fields[name]; len(keys) > 0 {
			d.fields = append(d.fields, field{name: name, attr: attrFieldPrefix + name, keys: keys})
		}
	}
	return d
}

// fieldIndex returns the index of a field in d.fields, or -1.
func (d *decoder) fieldIndex(name string) int {
	return slices.IndexFunc(d.fields, func(f field) bool { return f.name == name })
}

// sortedFieldNames gives fields a stable order, so stamps and errors are
// deterministic.
func sortedFieldNames(fields map[string][]string) []string {
	return slices.Sorted(maps.Keys(fields))
}

// object is a decoded trace config before its fields are picked: a JSON
// object or key=value pairs.
type object interface {
	// scalar returns the text of key's value; absent (ok false) when the key
	// is missing, null, an empty string, an object or a list.
	scalar(key string) (value string, ok bool, err error)
	// list returns the names of key's value; nil when the key is missing or
	// null.
	list(key string) ([]string, error)
}

// decode reads a trace config. Surrounding spaces are ignored. Input over
// maxTraceConfigBytes is refused before any decoding.
func (d *decoder) decode(s string) (traceConfig, error) {
	if len(s) > maxTraceConfigBytes {
		return traceConfig{}, errTooLarge
	}
	obj, err := d.parse(strings.TrimSpace(s))
	if err != nil {
		return traceConfig{}, err
	}
	return d.pick(obj)
}

// parse decodes the encoding, in the order DESIGN.md gives for auto.
func (d *decoder) parse(s string) (object, error) {
	if d.format == FormatKV {
		return parseKV(s)
	}
	if strings.HasPrefix(s, "{") {
		return parseJSON([]byte(s))
	}
	if raw, ok := decodeBase64(s); ok {
		if obj, err := parseJSON(raw); err == nil {
			return obj, nil
		}
	}
	if d.format == FormatJSON {
		return nil, errNotJSON
	}
	if obj, err := parseKV(s); err == nil {
		return obj, nil
	}
	return nil, errUndecodable
}

// decodeBase64 decodes standard or URL-alphabet base64, padded or not.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawURLEncoding
	if strings.ContainsAny(s, "+/") {
		enc = base64.RawStdEncoding
	}
	raw, err := enc.DecodeString(s)
	return raw, err == nil
}

// pick reads the routing fields and the destination list out of obj.
func (d *decoder) pick(obj object) (traceConfig, error) {
	tc := traceConfig{values: make([]string, len(d.fields))}
	for i, f := range d.fields {
		for _, key := range f.keys {
			v, ok, err := obj.scalar(key)
			if err != nil {
				return traceConfig{}, err
			}
			if ok {
				tc.values[i] = v
				break
			}
		}
	}
	if d.destinationsKey == "" {
		return tc, nil
	}
	names, err := obj.list(d.destinationsKey)
	if err != nil {
		return traceConfig{}, err
	}
	if tc.destinations, err = checkDestinations(names); err != nil {
		return traceConfig{}, err
	}
	return tc, nil
}

// checkValue applies the limits every field value must meet.
func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return errValueNotUTF8
	}
	if utf8.RuneCountInString(v) > maxValueChars {
		return errValueTooLong
	}
	return nil
}

// checkDestinations validates a producer-named list and drops repeats.
func checkDestinations(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > maxDestinations {
		return nil, errTooManyDestinations
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !route.ValidName(n) {
			return nil, errDestinationName
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
