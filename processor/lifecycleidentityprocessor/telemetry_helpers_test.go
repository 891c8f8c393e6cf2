package lifecycleidentityprocessor

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// counterValue reads a counter's total (0 if it was never recorded).
func counterValue(t testing.TB, tt *componenttest.Telemetry, name string, attrs ...attribute.KeyValue) int64 {
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int sum", name)
	want := attribute.NewSet(attrs...)
	var v int64
	for _, dp := range sum.DataPoints {
		if len(attrs) == 0 || dp.Attributes.Equals(&want) {
			v += dp.Value
		}
	}
	return v
}

// gaugeValue reads the tracked-traces gauge; ok is false when no point was reported.
func gaugeValue(t testing.TB, tt *componenttest.Telemetry, name string) (int64, bool) {
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0, false
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok, "%s is not an int gauge", name)
	if len(g.DataPoints) == 0 {
		return 0, false
	}
	return g.DataPoints[0].Value, true
}
