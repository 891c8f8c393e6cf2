// Package collector runs the built collector binary for the testbed: it lists
// the components the binary holds, starts it on a config, reads its internal
// metrics from the Prometheus self-telemetry endpoint, and stops or kills it.
package collector

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Components lists the component types of a binary, by kind ("receivers",
// "processors", "exporters", "extensions", "connectors").
type Components map[string][]string

// ListComponents runs `<binary> components` and parses its answer.
func ListComponents(binary string) (Components, error) {
	cmd := exec.Command(binary, "components")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s components: %w: %s", binary, err, errb.String())
	}
	return parseComponents(out.Bytes())
}

func parseComponents(data []byte) (Components, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse components: %w", err)
	}
	c := Components{}
	for kind, v := range raw {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				if name, ok := m["name"].(string); ok {
					c[kind] = append(c[kind], name)
				}
			}
		}
	}
	return c, nil
}

// Has reports whether the binary holds a component of that kind and type.
func (c Components) Has(kind, name string) bool { return slices.Contains(c[kind], name) }

// OTLPHTTPExporter returns the type name of the stock OTLP/HTTP exporter in
// this binary: "otlp_http" on the v0.165.0 line, "otlphttp" before; "" when
// absent.
func (c Components) OTLPHTTPExporter() string {
	for _, n := range []string{"otlp_http", "otlphttp"} {
		if c.Has("exporters", n) {
			return n
		}
	}
	return ""
}
