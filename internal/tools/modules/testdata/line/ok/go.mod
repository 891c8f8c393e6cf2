module example.com/dist

go 1.26.0

require (
	example.com/dist/a v0.165.0
	go.opentelemetry.io/collector/pdata v1.71.0
	go.opentelemetry.io/collector/processor/processorhelper v0.165.0
)

require go.opentelemetry.io/otel v1.47.0 // indirect

replace example.com/dist/a => ./a
