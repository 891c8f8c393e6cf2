package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import "go.opentelemetry.io/collector/pdata/pcommon"

// Resource attributes read and written by the processor.
const (
	// attrTraceConfig carries a per-resource trace config; it overrides the
	// header and is removed from every resource sent on.
	attrTraceConfig = "trace.config"

	attrAccount     = "trace_config.account"
	attrZone        = "trace_config.zone"
	attrWorkspace   = "trace_config.workspace"
	attrDestination = "trace_config.destination"
)

// stamp writes the routing attributes of one destination copy. The processor
// owns the trace_config.* keys: an identity field that is empty removes any
// value the producer set, so a copy never carries a stale identity. The
// caller removes attrTraceConfig first, once per resource, not per copy.
func stamp(attrs pcommon.Map, rt *route, destination string) {
	putOrRemove(attrs, attrAccount, rt.identity.Account)
	putOrRemove(attrs, attrZone, rt.identity.Zone)
	putOrRemove(attrs, attrWorkspace, rt.identity.Workspace)
	attrs.PutStr(attrDestination, destination)
}

func putOrRemove(attrs pcommon.Map, key, value string) {
	if value == "" {
		attrs.Remove(key)
		return
	}
	attrs.PutStr(key, value)
}
