package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/internal/route"
)

// Producers such as cloudflare/foundations send every span in a
// ResourceSpans of its own, all with the same resource: 512 copies of
// {service.name, service.version} per request. A resource that is identical
// to the one before it and has the same decision joins it instead of being
// stamped again: its scopes are appended to the previous resource's (the
// first one's spans to the previous last scope when the scopes are equal).
// Nothing changes in what the spans say (same resource, same scope), but
// each group is stamped once, and batch, destinations and every backend get
// one resource instead of hundreds.

// ownedKey reports whether the processor writes or removes the attribute:
// such keys do not make two resources different, since both leave with the
// same stamps.
func ownedKey(k string) bool {
	return k == attrTraceConfig || k == route.Attribute || strings.HasPrefix(k, attrFieldPrefix)
}

// mayBeOwned is false for most keys a producer sends, with one byte
// compared: every key ownedKey accepts starts with 't' and is at least as
// long as attrTraceConfig, the shortest.
func mayBeOwned(k string) bool {
	return len(k) >= len(attrTraceConfig) && k[0] == 't'
}

// equalUnowned reports whether b, on the keys the processor does not own,
// is exactly stamped's unowned part, which holds unowned keys. It looks
// every key up, so it holds whatever order the keys were sent in.
func equalUnowned(stamped pcommon.Map, unowned int, b pcommon.Map) bool {
	n := 0
	for k, v := range b.All() {
		if ownedKey(k) {
			continue
		}
		n++
		if av, ok := stamped.Get(k); !ok || !av.Equal(v) {
			return false
		}
	}
	return n == unowned
}

// appendScopes moves the scopes of src to the end of dst. When src's first
// scope equals dst's last one, its spans join that scope; order is kept.
// room is how many resources, src's included, are left in the request: when
// the joined scope must grow, it grows once for all of them alike, not by
// doubling 512 one-span appends.
func appendScopes(dst, src ptrace.ScopeSpansSlice, room int) {
	if dst.Len() > 0 && src.Len() > 0 {
		last, first := dst.At(dst.Len()-1), src.At(0)
		if sameScope(last, first) {
			spans, more := last.Spans(), first.Spans()
			reserveFor(spans, more, room)
			more.MoveAndAppendTo(spans)
			if src.Len() == 1 {
				return // the usual case: one scope, now empty, goes with its resource
			}
			src.RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
		}
	}
	src.MoveAndAppendTo(dst)
}

// reserveFor makes room in spans for more. When more is one span, as each
// resource of a producer that sends one span per resource holds, it makes
// room for one span of each of the room resources left in the request too,
// so the joined scope grows once (a no-op while the resources that follow
// are alike) instead of by doubling over 512 one-span appends. A resource of
// more spans reserves only its own: sizing for it times the resources left
// reserved what the request does not hold (a resource of 1,000 spans among
// 20,000 one-span ones asked for 152 MiB).
func reserveFor(spans, more ptrace.SpanSlice, room int) {
	if more.Len() == 1 {
		spans.EnsureCapacity(spans.Len() + room)
		return
	}
	spans.EnsureCapacity(spans.Len() + more.Len())
}

func sameScope(a, b ptrace.ScopeSpans) bool {
	sa, sb := a.Scope(), b.Scope()
	return a.SchemaUrl() == b.SchemaUrl() &&
		sa.Name() == sb.Name() && sa.Version() == sb.Version() &&
		sa.DroppedAttributesCount() == sb.DroppedAttributesCount() &&
		// Map.Equal's call and closure are skipped for the usual scope,
		// which has no attributes.
		(sa.Attributes().Len() == 0 && sb.Attributes().Len() == 0 || sa.Attributes().Equal(sb.Attributes()))
}
