module example.com/dist/a

go 1.26.0

require (
	github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling v0.165.0
	go.opentelemetry.io/collector/pdata v1.71.0
	go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.72.0
)
