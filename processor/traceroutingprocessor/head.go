package traceroutingprocessor // import "github.com/tracebound/tracebound/processor/traceroutingprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
)

// maxHeadAttrs bounds the attributes of the head remembered in order. A
// head with more is compared by lookup (equalUnowned) instead. 16 holds an
// SDK's usual resource (service.*, telemetry.sdk.*, host.*, process.*);
// foundations sends two.
const maxHeadAttrs = 16

// head is the last resource kept in a request, already stamped, which the
// resources after it may join (merge.go). For a producer that sends one
// ResourceSpans per span, every resource but the first is compared with
// it, so that comparison is the processor's work per span. It is done in
// the same single pass over the resource's attributes that finds its
// trace.config: the head's unowned attributes are remembered in the order
// they were sent, and a resource repeating them in that order (what a
// producer repeating one resource sends) matches pair by pair, with no
// lookup per key, no second pass and nothing allocated.
type head struct {
	rs    ptrace.ResourceSpans
	entry int // index in request.entries; -1 until a resource is kept
	// What a resource must share with rs besides its attributes, read once
	// per head rather than once per resource compared with it.
	schemaURL string
	dropped   uint32
	// foldable is false when rs has entity refs: they point into the
	// attributes, which stamping rewrites, so such a resource is never
	// folded.
	foldable bool
	// unowned is how many attributes of rs the processor does not own;
	// attrs holds the first min(unowned, maxHeadAttrs) of them, in order.
	unowned int
	attrs   [maxHeadAttrs]headAttr
	// last is rs's last scope, which the first scope of a resource that
	// joins may join in turn, read once per head and again only when a
	// joining resource brings scopes of its own.
	last lastScope
}

type lastScope struct {
	ok        bool // rs has a scope
	ss        ptrace.ScopeSpans
	spans     ptrace.SpanSlice
	schemaURL string
	name      string
	version   string
	dropped   uint32
	// plain: no attributes, so a scope without any equals it on them with
	// no call to Map.Equal.
	plain bool
}

func lastScopeOf(rs ptrace.ResourceSpans) lastScope {
	sss := rs.ScopeSpans()
	if sss.Len() == 0 {
		return lastScope{}
	}
	ss := sss.At(sss.Len() - 1)
	sc := ss.Scope()
	return lastScope{
		ok: true, ss: ss, spans: ss.Spans(), schemaURL: ss.SchemaUrl(),
		name: sc.Name(), version: sc.Version(), dropped: sc.DroppedAttributesCount(),
		plain: sc.Attributes().Len() == 0,
	}
}

// fold moves the scopes of rs, which joins the head, to the head's
// resource (appendScopes). The usual resource, one scope equal to the
// head's last, is compared with the fields read once per head: sameScope's
// rule, written here again on purpose, since a call per resource (neither
// fits the inlining budget) cost 4% of a foundations request (40.5 -> 42.3
// ns/span, five alternated runs).
func (h *head) fold(rs ptrace.ResourceSpans, room int) {
	src := rs.ScopeSpans()
	if l := &h.last; l.ok && src.Len() == 1 {
		first := src.At(0)
		sc := first.Scope()
		if first.SchemaUrl() == l.schemaURL && sc.Name() == l.name && sc.Version() == l.version &&
			sc.DroppedAttributesCount() == l.dropped &&
			(l.plain && sc.Attributes().Len() == 0 || l.ss.Scope().Attributes().Equal(sc.Attributes())) {
			more := first.Spans()
			reserveFor(l.spans, more, room)
			more.MoveAndAppendTo(l.spans)
			return
		}
	}
	appendScopes(h.rs.ScopeSpans(), src, room)
	h.last = lastScopeOf(h.rs)
}

type headAttr struct {
	key   string
	value pcommon.Value
	// str is value's text when it is a non-empty string, else "".
	str string
}

// scan is what one pass over a resource's attributes found.
type scan struct {
	config    pcommon.Value // the trace.config attribute, if hasConfig
	hasConfig bool
	// inOrder: the unowned attributes are exactly the head's, in the
	// head's order.
	inOrder bool
}

// set makes rs, just stamped with d, the head. The values remembered point
// into rs's attributes, which nothing changes until the request is done.
func (h *head) set(rs ptrace.ResourceSpans, entry int, d *decision) {
	res := rs.Resource()
	attrs := res.Attributes()
	h.rs, h.entry = rs, entry
	h.schemaURL, h.dropped = rs.SchemaUrl(), res.DroppedAttributesCount()
	h.foldable = entity.ResourceEntityRefs(res).Len() == 0
	h.last = lastScopeOf(rs)
	// stampResource left the unowned attributes first, in the order they
	// were sent, then exactly d's stamps and the route.
	h.unowned = attrs.Len() - len(d.stamps) - 1
	i, keep := 0, max(0, min(h.unowned, maxHeadAttrs))
	for k, v := range attrs.All() {
		if i == keep {
			break
		}
		h.attrs[i] = headAttr{key: k, value: v, str: v.Str()}
		i++
	}
}

// scan reads a resource's attributes once: its trace.config, and whether
// the others repeat the head's in order.
func (h *head) scan(attrs pcommon.Map) scan {
	var s scan
	matched, inOrder := 0, h.entry >= 0 && h.unowned <= maxHeadAttrs
	for k, v := range attrs.All() {
		if mayBeOwned(k) {
			if k == attrTraceConfig {
				if !s.hasConfig { // the first one, as Map.Get reads it
					s.config, s.hasConfig = v, true
				}
				continue
			}
			if ownedKey(k) {
				continue
			}
		}
		if !inOrder {
			continue
		}
		if matched == h.unowned {
			inOrder = false // an attribute more than the head has
			continue
		}
		// A non-empty string, the usual value, is compared here, inlined:
		// Value.Str is "" for any other type, so v.Str() == a.str says v
		// is that string with one type check, where Value.Equal makes four
		// (and is a call).
		a := &h.attrs[matched]
		if a.key == k && (a.str != "" && v.Str() == a.str || a.str == "" && a.value.Equal(v)) {
			matched++
		} else {
			inOrder = false
		}
	}
	s.inOrder = inOrder && matched == h.unowned
	return s
}

// joins reports whether rs, scanned as s and decided as entry, is the
// head's resource with the head's decision.
func (h *head) joins(rs ptrace.ResourceSpans, entry int, s scan) bool {
	res := rs.Resource()
	if entry != h.entry || !h.foldable || rs.SchemaUrl() != h.schemaURL ||
		res.DroppedAttributesCount() != h.dropped || entity.ResourceEntityRefs(res).Len() > 0 {
		return false
	}
	if s.inOrder {
		return true
	}
	// Another order, more attributes than remembered, or another resource:
	// look each key up.
	return equalUnowned(h.rs.Resource().Attributes(), h.unowned, res.Attributes())
}
