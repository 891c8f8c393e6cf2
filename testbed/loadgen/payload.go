package loadgen

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Identity attribute keys, as DESIGN.md names them.
const (
	AttrComponentName       = "component.name"
	AttrFootprintIdentifier = "footprint.identifier"
	AttrFootprintRevision   = "footprint.revision"
	AttrFootprintSolution   = "footprint.solution"
	AttrProcessNonce        = "process.nonce"
)

// process is one simulated producer: its resource attributes.
type process struct {
	identifier string
	nonce      string
}

// payloadBuilder turns span specs into request bodies. Attribute values are
// built once and shared, so the cost per span is the pdata and the encoding.
type payloadBuilder struct {
	cfg       *Config
	attrKeys  []string
	attrValue string
	processes []process
	started   time.Time
	enc       *encoder
	// headers are the header values of Routing.Configs, rendered once.
	headers []string
}

func newPayloadBuilder(cfg *Config) *payloadBuilder {
	b := &payloadBuilder{cfg: cfg, started: time.Now()}
	for i := range cfg.Span.Attributes {
		b.attrKeys = append(b.attrKeys, fmt.Sprintf("testbed.attr.%02d", i))
	}
	b.attrValue = strings.Repeat("v", cfg.Span.AttributeSize)
	if cfg.Identity != nil {
		for i := range cfg.Identity.Processes {
			b.processes = append(b.processes, process{
				identifier: fmt.Sprintf("%s-%03d", cfg.Identity.Component, i),
				nonce:      newUUID(),
			})
		}
	}
	if r := cfg.Routing; r != nil {
		for _, c := range r.Configs {
			v, _ := c.Header() // applyDefaults checked every config
			b.headers = append(b.headers, v)
		}
	}
	b.enc = newEncoder(b)
	return b
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// build encodes one request holding specs; seq picks the simulated process.
// Protobuf bodies are written directly; JSON ones through pdata.
func (b *payloadBuilder) build(specs []spanSpec, seq int64) ([]byte, error) {
	if !b.cfg.JSON {
		return b.enc.encode(specs, seq, b.started, time.Now()), nil
	}
	return b.buildPdata(specs, seq, time.Now())
}

// buildPdata builds the request with pdata.
func (b *payloadBuilder) buildPdata(specs []spanSpec, seq int64, now time.Time) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res := rs.Resource().Attributes()
	res.PutStr("service.name", "testbed-loadgen")
	if id := b.cfg.Identity; id != nil {
		p := b.processes[int(seq%int64(len(b.processes)))]
		res.PutStr(AttrComponentName, id.Component)
		res.PutStr(AttrFootprintIdentifier, p.identifier)
		res.PutInt(AttrFootprintRevision, int64(id.Revision))
		res.PutStr(AttrFootprintSolution, id.Solution)
		res.PutStr(AttrProcessNonce, p.nonce)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("testbed/loadgen")
	spans := ss.Spans()
	spans.EnsureCapacity(len(specs))
	end := pcommon.NewTimestampFromTime(now)
	start := pcommon.NewTimestampFromTime(now.Add(-time.Millisecond))
	lifeStart := pcommon.NewTimestampFromTime(b.started)
	for i := range specs {
		s := &specs[i]
		sp := spans.AppendEmpty()
		sp.SetTraceID(s.traceID)
		sp.SetSpanID(s.spanID)
		switch {
		case s.lifetime:
			sp.SetName("lifecycle")
			sp.SetKind(ptrace.SpanKindInternal)
			sp.SetStartTimestamp(lifeStart)
		case s.root:
			sp.SetName("request")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(start)
		default:
			sp.SetParentSpanID(s.parentID)
			sp.SetName("work")
			sp.SetKind(ptrace.SpanKindInternal)
			sp.SetStartTimestamp(start)
		}
		sp.SetEndTimestamp(end)
		attrs := sp.Attributes()
		attrs.EnsureCapacity(len(b.attrKeys))
		for _, k := range b.attrKeys {
			attrs.PutStr(k, b.attrValue)
		}
	}
	req := ptraceotlp.NewExportRequestFromTraces(td)
	if b.cfg.JSON {
		return req.MarshalJSON()
	}
	return req.MarshalProto()
}

// header returns the trace config header value for request seq and the
// index of its config in Routing.Configs; "" and -1 when the request
// carries none.
func (b *payloadBuilder) header(seq int64) (value string, config int) {
	r := b.cfg.Routing
	if r == nil {
		return "", -1
	}
	if r.MissingEvery > 0 && seq%int64(r.MissingEvery) == int64(r.MissingEvery-1) {
		return "", -1
	}
	i := int(seq % int64(len(r.Configs)))
	return b.headers[i], i
}
