package loadgen

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// OTLP protobuf field numbers used by the direct encoder.
const (
	fReqResourceSpans   = 1 // ExportTraceServiceRequest.resource_spans
	fRSResource         = 1 // ResourceSpans.resource
	fRSScopeSpans       = 2 // ResourceSpans.scope_spans
	fResourceAttributes = 1 // Resource.attributes
	fSSScope            = 1 // ScopeSpans.scope
	fSSSpans            = 2 // ScopeSpans.spans
	fScopeName          = 1 // InstrumentationScope.name
	fSpanTraceID        = 1
	fSpanSpanID         = 2
	fSpanParentSpanID   = 4
	fSpanName           = 5
	fSpanKind           = 6
	fSpanStart          = 7
	fSpanEnd            = 8
	fSpanAttributes     = 9
	fKVKey              = 1
	fKVValue            = 2
	fAnyString          = 1
	fAnyInt             = 3

	kindInternal = 1
	kindServer   = 2
)

// encoder writes OTLP protobuf requests directly, the span attributes and
// each process's resource pre-encoded: the same bytes as pdata's encoding of
// payloadBuilder's traces, at a fraction of the cost (the generator shares
// the machine with the collector it measures).
type encoder struct {
	attrs     []byte   // the span attributes, as repeated field 9
	resources [][]byte // per process: the Resource message
	scope     []byte   // the InstrumentationScope message
	// foundationsResource is producer mode's Resource message.
	foundationsResource []byte
}

func appendKV(b []byte, field protowire.Number, key string, value []byte) []byte {
	var kv []byte
	kv = protowire.AppendTag(kv, fKVKey, protowire.BytesType)
	kv = protowire.AppendString(kv, key)
	kv = protowire.AppendTag(kv, fKVValue, protowire.BytesType)
	kv = protowire.AppendBytes(kv, value)
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, kv)
}

func strValue(s string) []byte {
	v := protowire.AppendTag(nil, fAnyString, protowire.BytesType)
	return protowire.AppendString(v, s)
}

func intValue(i int64) []byte {
	v := protowire.AppendTag(nil, fAnyInt, protowire.VarintType)
	return protowire.AppendVarint(v, uint64(i))
}

func newEncoder(b *payloadBuilder) *encoder {
	e := &encoder{}
	for _, k := range b.attrKeys {
		e.attrs = appendKV(e.attrs, fSpanAttributes, k, strValue(b.attrValue))
	}
	resource := func(p *process) []byte {
		r := appendKV(nil, fResourceAttributes, "service.name", strValue("testbed-loadgen"))
		if id := b.cfg.Identity; id != nil {
			r = appendKV(r, fResourceAttributes, AttrComponentName, strValue(id.Component))
			r = appendKV(r, fResourceAttributes, AttrFootprintIdentifier, strValue(p.identifier))
			r = appendKV(r, fResourceAttributes, AttrFootprintRevision, intValue(int64(id.Revision)))
			r = appendKV(r, fResourceAttributes, AttrFootprintSolution, strValue(id.Solution))
			r = appendKV(r, fResourceAttributes, AttrProcessNonce, strValue(p.nonce))
		}
		return r
	}
	if len(b.processes) == 0 {
		e.resources = [][]byte{resource(nil)}
	}
	for i := range b.processes {
		e.resources = append(e.resources, resource(&b.processes[i]))
	}
	if b.cfg.Mode == ModeProducer {
		e.foundationsResource = newFoundationsResource(&b.cfg.Producer)
	}
	e.scope = protowire.AppendTag(nil, fScopeName, protowire.BytesType)
	e.scope = protowire.AppendString(e.scope, "testbed/loadgen")
	return e
}

// encode returns the request for specs, sent by process seq.
func (e *encoder) encode(specs []spanSpec, seq int64, started, now time.Time) []byte {
	end := uint64(now.UnixNano())
	start := uint64(now.Add(-time.Millisecond).UnixNano())
	lifeStart := uint64(started.UnixNano())

	spans := make([]byte, 0, len(specs)*(len(e.attrs)+128))
	var sp []byte
	for i := range specs {
		s := &specs[i]
		sp = sp[:0]
		sp = protowire.AppendTag(sp, fSpanTraceID, protowire.BytesType)
		sp = protowire.AppendBytes(sp, s.traceID[:])
		sp = protowire.AppendTag(sp, fSpanSpanID, protowire.BytesType)
		sp = protowire.AppendBytes(sp, s.spanID[:])
		name, kind, st := "work", uint64(kindInternal), start
		switch {
		case s.lifetime:
			name, st = "lifecycle", lifeStart
		case s.root:
			name, kind = "request", kindServer
		default:
			sp = protowire.AppendTag(sp, fSpanParentSpanID, protowire.BytesType)
			sp = protowire.AppendBytes(sp, s.parentID[:])
		}
		sp = protowire.AppendTag(sp, fSpanName, protowire.BytesType)
		sp = protowire.AppendString(sp, name)
		sp = protowire.AppendTag(sp, fSpanKind, protowire.VarintType)
		sp = protowire.AppendVarint(sp, kind)
		sp = protowire.AppendTag(sp, fSpanStart, protowire.Fixed64Type)
		sp = protowire.AppendFixed64(sp, st)
		sp = protowire.AppendTag(sp, fSpanEnd, protowire.Fixed64Type)
		sp = protowire.AppendFixed64(sp, end)
		sp = append(sp, e.attrs...)
		spans = protowire.AppendTag(spans, fSSSpans, protowire.BytesType)
		spans = protowire.AppendBytes(spans, sp)
	}

	res := e.resources[int(seq%int64(len(e.resources)))]
	scopeLen := protowire.SizeTag(fSSScope) + protowire.SizeBytes(len(e.scope)) + len(spans)
	rsLen := protowire.SizeTag(fRSResource) + protowire.SizeBytes(len(res)) +
		protowire.SizeTag(fRSScopeSpans) + protowire.SizeBytes(scopeLen)
	out := make([]byte, 0, protowire.SizeTag(fReqResourceSpans)+protowire.SizeBytes(rsLen)+len(spans))
	out = protowire.AppendTag(out, fReqResourceSpans, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(rsLen))
	out = protowire.AppendTag(out, fRSResource, protowire.BytesType)
	out = protowire.AppendBytes(out, res)
	out = protowire.AppendTag(out, fRSScopeSpans, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(scopeLen))
	out = protowire.AppendTag(out, fSSScope, protowire.BytesType)
	out = protowire.AppendBytes(out, e.scope)
	return append(out, spans...)
}
