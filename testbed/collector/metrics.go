package collector

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Metrics is one scrape.
type Metrics []Sample

// ParseMetrics reads the Prometheus text exposition format (comments and
// timestamps ignored).
func ParseMetrics(r io.Reader) (Metrics, error) {
	var out Metrics
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLine(line string) (Sample, error) {
	var s Sample
	rest := line
	if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
		s.Name = line[:i]
		j := i + 1
		s.Labels = map[string]string{}
		for {
			for j < len(line) && (line[j] == ',' || line[j] == ' ') {
				j++
			}
			if j >= len(line) {
				return s, fmt.Errorf("unterminated labels")
			}
			if line[j] == '}' {
				j++
				break
			}
			eq := strings.IndexByte(line[j:], '=')
			if eq < 0 || j+eq+1 >= len(line) || line[j+eq+1] != '"' {
				return s, fmt.Errorf("bad label")
			}
			key := line[j : j+eq]
			k := j + eq + 2
			var val strings.Builder
			for k < len(line) && line[k] != '"' {
				if line[k] == '\\' && k+1 < len(line) {
					k++
					switch line[k] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[k])
					}
				} else {
					val.WriteByte(line[k])
				}
				k++
			}
			if k >= len(line) {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[key] = val.String()
			j = k + 1
		}
		rest = line[j:]
	} else {
		f := strings.Fields(line)
		s.Name = f[0]
		rest = strings.TrimPrefix(line, f[0])
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		switch f[0] {
		case "+Inf":
			v = math.Inf(1)
		case "-Inf":
			v = math.Inf(-1)
		default:
			return s, err
		}
	}
	s.Value = v
	return s, nil
}

// nameMatches matches a metric name with or without the _total suffix the
// Prometheus exporter adds to counters.
func nameMatches(have, want string) bool {
	return have == want || have == want+"_total"
}

// Has reports whether any sample is named name (with or without _total).
func (m Metrics) Has(name string) bool {
	for _, s := range m {
		if nameMatches(s.Name, name) {
			return true
		}
	}
	return false
}

// Sum adds the samples named name (with or without _total) whose labels
// include every pair of match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	var sum float64
	for _, s := range m {
		if !nameMatches(s.Name, name) || !labelsMatch(s.Labels, match) {
			continue
		}
		sum += s.Value
	}
	return sum
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// WithPrefix returns the samples whose name starts with prefix, as
// "name{k=v,...}" -> value, for reports. Histogram buckets are left out.
func (m Metrics) WithPrefix(prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if strings.HasSuffix(s.Name, "_bucket") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(s.Name, p) {
				out[s.Key()] = s.Value
				break
			}
		}
	}
	return out
}

// Key renders a sample's name and labels (without the otel_scope_* and
// service_* labels every sample carries).
func (s Sample) Key() string {
	var keys []string
	for k := range s.Labels {
		if strings.HasPrefix(k, "otel_scope_") || strings.HasPrefix(k, "service_") {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return s.Name
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Labels[k])
	}
	b.WriteByte('}')
	return b.String()
}
