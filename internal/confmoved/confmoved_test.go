package confmoved

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestCheck(t *testing.T) {
	keys := []Key{
		{Name: "route_attribute", MovedTo: "trace_routing stamps the route"},
		{Name: "default_destinations", MovedTo: "set it on trace_routing"},
	}
	require.NoError(t, Check(confmap.NewFromStringMap(map[string]any{"destinations": map[string]any{}}), keys...))

	err := Check(confmap.NewFromStringMap(map[string]any{"default_destinations": []any{"a"}}), keys...)
	assert.EqualError(t, err, "default_destinations: no longer supported: set it on trace_routing")

	// Set to nothing is still set: the user wrote the key.
	err = Check(confmap.NewFromStringMap(map[string]any{"route_attribute": nil}), keys...)
	assert.EqualError(t, err, "route_attribute: no longer supported: trace_routing stamps the route")
}
