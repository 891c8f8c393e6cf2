package loadgen

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Encoding is the shape a trace config is written in. Producers choose it,
// not the collector: cloudflare/foundations sends whatever the app's own
// encoder wrote, usually who the spans belong to and no destinations.
type Encoding string

const (
	// EncodingJSON is a JSON object of strings with plain keys:
	// {"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}
	// (the default).
	EncodingJSON Encoding = "json"
	// EncodingJSONNumbers is the shape of foundations' own tests: camelCase
	// keys, numbers where the value is an integer,
	// {"zoneId":12345,"accountId":42} (zone first, as there; a value that
	// is not an integer is sent as a string).
	EncodingJSONNumbers Encoding = "json-numbers"
	// EncodingJSONSnake has snake_case keys and string values:
	// {"account_id":"42","zone_id":"7"}.
	EncodingJSONSnake Encoding = "json-snake"
	// EncodingKV is key=value pairs separated by ";": zone=1;account=2,
	// destinations as destinations=a|b. Values must not hold a separator
	// (";", ",", "&", "=", "|") or surrounding spaces.
	EncodingKV Encoding = "kv"
)

// Base64 says whether a JSON trace config is sent in base64, and in which
// alphabet. Key=value pairs are always sent as they are.
type Base64 string

const (
	// Base64None sends the JSON raw (the default).
	Base64None Base64 = ""
	// Base64Std is the standard alphabet, padded.
	Base64Std Base64 = "std"
	// Base64URL is the URL alphabet, unpadded.
	Base64URL Base64 = "url"
)

// TraceConfig is one trace config a request carries.
type TraceConfig struct {
	// Account, Zone and Workspace say whose spans they are; empty ones are
	// left out of the header.
	Account   string
	Zone      string
	Workspace string
	// Destinations are the names the producer gives itself (foundations
	// gives none: the collector's routes decide).
	Destinations []string
	Encoding     Encoding
	Base64       Base64
	// RoutedTo are the destinations the collector is expected to route a
	// config that names none to, by its routes table; never sent, only
	// counted (Stats.ByDestination). A config with neither Destinations
	// nor RoutedTo is expected to go nowhere and counts under "".
	RoutedTo []string
}

// Routes returns the destinations the spans of c are counted for:
// Destinations when it names any, else RoutedTo.
func (c TraceConfig) Routes() []string {
	if len(c.Destinations) > 0 {
		return c.Destinations
	}
	return c.RoutedTo
}

// integer is a JSON integer, written as a number by EncodingJSONNumbers.
var integer = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// Header renders c as the header value a producer of its encoding sends.
func (c TraceConfig) Header() (string, error) {
	var v string
	switch c.Encoding {
	case EncodingJSON, "":
		v = c.json([3]string{"account", "zone", "workspace"}, false, false)
	case EncodingJSONNumbers:
		v = c.json([3]string{"accountId", "zoneId", "workspaceId"}, true, true)
	case EncodingJSONSnake:
		v = c.json([3]string{"account_id", "zone_id", "workspace_id"}, false, false)
	case EncodingKV:
		if c.Base64 != Base64None {
			return "", errors.New("loadgen: key=value trace configs are not sent in base64")
		}
		return c.kv()
	default:
		return "", fmt.Errorf("loadgen: unknown trace config encoding %q", c.Encoding)
	}
	switch c.Base64 {
	case Base64None:
		return v, nil
	case Base64Std:
		return base64.StdEncoding.EncodeToString([]byte(v)), nil
	case Base64URL:
		return base64.RawURLEncoding.EncodeToString([]byte(v)), nil
	default:
		return "", fmt.Errorf("loadgen: unknown base64 alphabet %q", c.Base64)
	}
}

// json writes the fields under keys (account, zone, workspace), then the
// destinations; zoneFirst puts the zone first, numbers writes integers
// unquoted.
func (c TraceConfig) json(keys [3]string, zoneFirst, numbers bool) string {
	type kv struct{ k, v string }
	fields := []kv{{keys[0], c.Account}, {keys[1], c.Zone}, {keys[2], c.Workspace}}
	if zoneFirst {
		fields[0], fields[1] = fields[1], fields[0]
	}
	var b strings.Builder
	b.WriteByte('{')
	sep := ""
	for _, f := range fields {
		if f.v == "" {
			continue
		}
		b.WriteString(sep)
		sep = ","
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		if numbers && integer.MatchString(f.v) {
			b.WriteString(f.v)
		} else {
			v, _ := json.Marshal(f.v)
			b.Write(v)
		}
	}
	if len(c.Destinations) > 0 {
		d, _ := json.Marshal(c.Destinations)
		b.WriteString(sep + `"destinations":`)
		b.Write(d)
	}
	b.WriteByte('}')
	return b.String()
}

// kv writes zone=1;account=2 (zone first, as foundations' tests do).
func (c TraceConfig) kv() (string, error) {
	var pairs []string
	for _, f := range [][2]string{{"zone", c.Zone}, {"account", c.Account}, {"workspace", c.Workspace}} {
		if f[1] == "" {
			continue
		}
		if !kvSafe(f[1]) {
			return "", fmt.Errorf("loadgen: %s %q cannot be sent as key=value", f[0], f[1])
		}
		pairs = append(pairs, f[0]+"="+f[1])
	}
	if len(c.Destinations) > 0 {
		for _, d := range c.Destinations {
			if !kvSafe(d) {
				return "", fmt.Errorf("loadgen: destination %q cannot be sent as key=value", d)
			}
		}
		pairs = append(pairs, "destinations="+strings.Join(c.Destinations, "|"))
	}
	if len(pairs) == 0 {
		return "", errors.New("loadgen: a key=value trace config needs at least one value")
	}
	return strings.Join(pairs, ";"), nil
}

func kvSafe(v string) bool {
	return v == strings.TrimSpace(v) && !strings.ContainsAny(v, ";,&=|")
}

// applyDefaults fills the header name, turns Destinations and Sets into
// Configs, and checks that every config can be written.
func (r *Routing) applyDefaults() error {
	if r.Header == "" {
		r.Header = DefaultHeader
	}
	if len(r.Configs) == 0 {
		sets := r.Sets
		if len(sets) == 0 {
			// Destinations are sets of one, so requests name their
			// destinations one way only.
			for _, d := range r.Destinations {
				sets = append(sets, []string{d})
			}
		}
		if len(sets) == 0 {
			return errors.New("loadgen: routing needs at least one destination or trace config")
		}
		for _, set := range sets {
			if len(set) == 0 {
				return errors.New("loadgen: routing sets must name at least one destination")
			}
			r.Configs = append(r.Configs, TraceConfig{
				Account: r.Account, Zone: r.Zone, Workspace: r.Workspace,
				Destinations: set, Encoding: r.Encoding, Base64: r.Base64,
			})
		}
	} else {
		// A copy: the caller's slice stays as it was.
		r.Configs = slices.Clone(r.Configs)
	}
	for i, c := range r.Configs {
		if _, err := c.Header(); err != nil {
			return fmt.Errorf("loadgen: routing config %d: %w", i, err)
		}
	}
	return nil
}
