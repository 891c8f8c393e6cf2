//go:build collectorline

// This file is never built (no build uses the tag). Its import makes go.mod
// require the collector's otelcol module at the line this component is
// built and tested on, v0.165.0: a collector build on an older line then
// selects that otelcol, and ocb refuses it ("mismatch in go.mod and builder
// configuration versions") instead of silently building the older
// collector over this line's core modules. README.md, "Using our components
// in your own ocb build".
package otlpudsreceiver

import _ "go.opentelemetry.io/collector/otelcol"
