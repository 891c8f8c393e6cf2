package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// ProducerConfig is ModeProducer: the generator behaves as
// cloudflare/foundations' user-tracing exporter (`output_otlp_uds`), the
// producer tracebound serves first, does on the wire:
//
//   - the application hands its finished spans to a queue of at most
//     QueueSpans spans (foundations' max_queue_size); a span produced while
//     the queue is full is dropped, and lost;
//   - Producers export tasks (foundations' num_tasks) take up to
//     SpansPerRequest spans each (max_batch_size; 512 here) and post them,
//     each task with one request in flight: it takes the next batch only
//     once the answer is back, so a slow answer slows it down and the
//     spans wait in the queue;
//   - every request opens a new connection (HTTP/1.1 over the Unix socket,
//     Host: localhost, no keep-alive), POST /v1/traces, uncompressed
//     protobuf, with the routing header of Config.Routing;
//   - every span travels in its own ResourceSpans, whose resource carries
//     only service.name and service.version (no identity attributes, no
//     scope), as foundations' convert_span writes it;
//   - nothing is ever retried and Retry-After is ignored: a non-2xx answer,
//     or no answer at all, loses the request's spans.
//
// The application produces spans at Config.Rate, or by Phases; the spans of
// a request are handed to the queue together, once the last of them is
// produced. foundations' tasks take whatever the queue holds, up to
// max_batch_size (tokio's recv_many): under backpressure, which is what the
// testbed measures, that is full batches, as here; at light load foundations
// sends smaller ones more often.
type ProducerConfig struct {
	// Producers is the number of export tasks, each with one request in
	// flight (default 4).
	Producers int
	// QueueSpans bounds the application's queue (default 1,000,000).
	QueueSpans int
	// Phases, when not empty, replace Config.Rate: the application
	// produces at each phase's rate for its duration, in turn, the cycle
	// repeated until Config.Duration.
	Phases []Phase
	// ServiceName and ServiceVersion are the resource's only attributes
	// (defaults testbed-producer, 1.0.0).
	ServiceName    string
	ServiceVersion string
}

// Phase is a stretch of time at one production rate.
type Phase struct {
	Rate     int           `json:"rate"`
	Duration time.Duration `json:"duration_ns"`
}

func (p *ProducerConfig) applyDefaults(c *Config) error {
	if p.Producers <= 0 {
		p.Producers = DefaultProducers
	}
	if p.QueueSpans <= 0 {
		p.QueueSpans = DefaultProducerQueueSpans
	}
	if p.ServiceName == "" {
		p.ServiceName = DefaultServiceName
	}
	if p.ServiceVersion == "" {
		p.ServiceVersion = DefaultServiceVersion
	}
	for _, ph := range p.Phases {
		if ph.Rate < 0 || ph.Duration <= 0 {
			return errors.New("loadgen: a phase needs a rate >= 0 and a positive duration")
		}
	}
	if len(p.Phases) > 0 && c.Rate != 0 {
		return errors.New("loadgen: set Rate or Producer.Phases, not both")
	}
	if len(p.Phases) == 0 && c.Rate <= 0 {
		return errors.New("loadgen: producer mode needs a rate (Rate or Producer.Phases)")
	}
	if c.JSON {
		return errors.New("loadgen: producer mode sends protobuf, as foundations does")
	}
	if c.Identity != nil {
		return errors.New("loadgen: producer mode stamps no identity (foundations' resource holds service.name and service.version only)")
	}
	if c.SpansPerRequest <= 0 {
		c.SpansPerRequest = DefaultProducerSpansPerRequest
	}
	c.Workers = p.Producers
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultProducerTimeout
	}
	c.Retry.Disabled = true
	return nil
}

// schedule is when the application has produced how many spans.
type schedule struct {
	phases     []Phase
	cycleSpans float64
	cycle      time.Duration
}

func newSchedule(c *Config) schedule {
	phases := c.Producer.Phases
	if len(phases) == 0 {
		phases = []Phase{{Rate: c.Rate, Duration: time.Second}}
	}
	s := schedule{phases: phases}
	for _, p := range phases {
		s.cycleSpans += float64(p.Rate) * p.Duration.Seconds()
		s.cycle += p.Duration
	}
	return s
}

// spansBy is the number of spans produced in the first t of the run.
func (s schedule) spansBy(t time.Duration) float64 {
	if s.cycle <= 0 {
		return 0
	}
	n := math.Floor(float64(t) / float64(s.cycle))
	out := n * s.cycleSpans
	rest := t - time.Duration(n)*s.cycle
	for _, p := range s.phases {
		d := min(rest, p.Duration)
		out += float64(p.Rate) * d.Seconds()
		rest -= d
		if rest <= 0 {
			break
		}
	}
	return out
}

// timeOf is the time at which the application has produced spans spans;
// false when it never does (every rate 0).
func (s schedule) timeOf(spans float64) (time.Duration, bool) {
	if s.cycleSpans <= 0 {
		return 0, false
	}
	if spans <= 0 {
		return 0, true
	}
	n := math.Floor(spans / s.cycleSpans)
	rest := spans - n*s.cycleSpans
	if rest == 0 {
		// Exactly at a cycle's end: its last producing phase ends it.
		n--
		rest = s.cycleSpans
	}
	t := time.Duration(n) * s.cycle
	for _, p := range s.phases {
		in := float64(p.Rate) * p.Duration.Seconds()
		if p.Rate > 0 && rest <= in {
			return t + time.Duration(rest/float64(p.Rate)*float64(time.Second)), true
		}
		rest -= in
		t += p.Duration
	}
	return t, true // rounding: the cycle's end
}

// producerSpans is what the schedule produces within Duration, in whole
// requests (the spans of a request are queued together), bounded by
// MaxRequests and the plan.
func producerSpans(c *Config, planTotal int64) int64 {
	s := newSchedule(c)
	requests := int64(math.Floor(s.spansBy(c.Duration) / float64(c.SpansPerRequest)))
	if t, ok := s.timeOf(float64(requests * int64(c.SpansPerRequest))); ok && t >= c.Duration && requests > 0 {
		requests-- // the last one is due exactly at the end: not within
	}
	if c.MaxRequests > 0 {
		requests = min(requests, int64(c.MaxRequests))
	}
	spans := requests * int64(c.SpansPerRequest)
	if planTotal > 0 {
		spans = min(spans, planTotal)
	}
	return spans
}

// producerStats is what producer mode counts beside Stats' common fields.
type producerStats struct {
	offered, queueFull, unsent, refused, noAnswer int64
	queued, queuePeak                             int64
	answers                                       []time.Duration
}

// runProducers is Run in producer mode.
func (g *Generator) runProducers(ctx context.Context) Stats {
	defer g.client.Close()
	cfg := &g.cfg
	start := time.Now()
	offerEnd := start.Add(cfg.Duration)
	hardEnd := offerEnd.Add(cfg.DrainTimeout)
	runCtx, cancel := context.WithDeadline(ctx, hardEnd)
	defer cancel()

	// The application's queue, in requests: a request's spans are queued
	// together.
	queue := make(chan job, max(1, cfg.Producer.QueueSpans/cfg.SpansPerRequest))
	var wg sync.WaitGroup
	for range cfg.Producer.Producers {
		wg.Go(func() {
			for {
				// Stop at the hard end even with batches still queued:
				// they count as unsent.
				if runCtx.Err() != nil {
					return
				}
				var j job
				var ok bool
				select {
				case <-runCtx.Done():
					return
				case j, ok = <-queue:
				}
				if !ok {
					return
				}
				g.mu.Lock()
				g.prod.queued -= int64(j.spans)
				g.mu.Unlock()
				body := g.builder.enc.encodeFoundations(j.specs, time.Now())
				g.produce(runCtx, j, body)
			}
		})
	}

	sched := newSchedule(cfg)
	var seq int64
	for {
		if cfg.MaxRequests > 0 && seq >= int64(cfg.MaxRequests) {
			break
		}
		due, ok := sched.timeOf(float64((seq + 1) * int64(cfg.SpansPerRequest)))
		if !ok || due >= cfg.Duration {
			break
		}
		if d := time.Until(start.Add(due)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		specs := make([]spanSpec, cfg.SpansPerRequest)
		n := g.plan.fill(specs)
		if n == 0 {
			break
		}
		hdr, tc := g.builder.header(seq)
		j := job{seq: seq, spans: n, specs: specs[:n], cfg: tc, hdr: hdr}
		seq++
		g.mu.Lock()
		g.prod.offered += int64(n)
		g.mu.Unlock()
		g.sent.Add(int64(n))
		select {
		case queue <- j:
			g.mu.Lock()
			g.prod.queued += int64(n)
			g.prod.queuePeak = max(g.prod.queuePeak, g.prod.queued)
			g.mu.Unlock()
		default:
			// foundations' queue is full: the span is dropped at the
			// producer.
			g.mu.Lock()
			g.prod.queueFull += int64(n)
			g.mu.Unlock()
		}
	}
	offerStop := time.Now()
	close(queue)
	wg.Wait()
	var unsent int64
	for j := range queue {
		unsent += int64(j.spans)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	p := &g.prod
	p.unsent = unsent
	st := g.stats
	st.Mode = string(ModeProducer)
	st.Requests = seq
	st.SpansOffered = p.offered
	st.SpansQueueFull = p.queueFull
	st.SpansUnsent = p.unsent
	st.SpansRefused = p.refused
	st.SpansNoAnswer = p.noAnswer
	st.QueuePeakSpans = p.queuePeak
	// Sent is what went out in a request; the rest of what was offered
	// never left the application.
	st.SpansSent = p.offered - p.queueFull - p.unsent
	st.SpansUnoffered = p.queueFull + p.unsent
	st.AnswerMs = answerSummary(p.answers)
	st.Elapsed = time.Since(start)
	// The application produced for the whole Duration unless cut short
	// (its last request may be due a little before the end).
	st.OfferTime = cfg.Duration
	if ctx.Err() != nil {
		st.OfferTime = min(offerStop.Sub(start), cfg.Duration)
	}
	if st.OfferTime > 0 {
		st.OfferedRate = float64(st.SpansOffered) / st.OfferTime.Seconds()
	}
	return st
}

// produce posts one request once, as foundations does, and counts its
// outcome.
func (g *Generator) produce(ctx context.Context, j job, body []byte) {
	headers := g.headers(j)
	began := time.Now()
	res := g.client.Post(ctx, body, false, headers)
	took := time.Since(began)
	g.countAttempt(0, res, j.spans)
	ok := res.Status >= 200 && res.Status < 300
	g.record(j, ok, res)
	g.mu.Lock()
	defer g.mu.Unlock()
	if res.Status != 0 {
		// Only answers: a request that got none has no answer time.
		g.prod.answers = append(g.prod.answers, took)
	}
	switch {
	case ok:
	case res.Status == 0:
		g.prod.noAnswer += int64(j.spans)
	default:
		g.prod.refused += int64(j.spans)
	}
}

// AnswerTimes summarises how long the producers waited for their answers,
// in milliseconds: a slow answer is the backpressure a producer that never
// retries can live with.
type AnswerTimes struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func answerSummary(d []time.Duration) *AnswerTimes {
	if len(d) == 0 {
		return nil
	}
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	at := func(q float64) float64 { return ms(s[min(len(s)-1, int(q*float64(len(s))))]) }
	return &AnswerTimes{Count: len(s), Mean: ms(sum) / float64(len(s)), P50: at(0.5), P99: at(0.99), Max: ms(s[len(s)-1])}
}

// String renders the answer times for a report.
func (a *AnswerTimes) String() string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, max %.0f ms", a.P50, a.P99, a.Max)
}

// Field numbers of foundations' shape beyond those of encode.go.
const (
	fSpanFlags  = 16 // Span.flags (fixed32)
	sampledFlag = 1
)

// newFoundationsResource is the Resource message of every span in producer
// mode: service.name and service.version only.
func newFoundationsResource(p *ProducerConfig) []byte {
	r := appendKV(nil, fResourceAttributes, "service.name", strValue(p.ServiceName))
	return appendKV(r, fResourceAttributes, "service.version", strValue(p.ServiceVersion))
}

// encodeFoundations writes a request the way foundations does: one
// ResourceSpans per span, each with the service-only resource and one
// ScopeSpans without a scope, holding the span (kind unspecified, the
// sampled flag, no status).
func (e *encoder) encodeFoundations(specs []spanSpec, now time.Time) []byte {
	end := uint64(now.UnixNano())
	start := uint64(now.Add(-time.Millisecond).UnixNano())
	res := e.foundationsResource
	var out, sp, rs []byte
	out = make([]byte, 0, len(specs)*(len(e.attrs)+len(res)+96))
	for i := range specs {
		s := &specs[i]
		sp = sp[:0]
		sp = protowire.AppendTag(sp, fSpanTraceID, protowire.BytesType)
		sp = protowire.AppendBytes(sp, s.traceID[:])
		sp = protowire.AppendTag(sp, fSpanSpanID, protowire.BytesType)
		sp = protowire.AppendBytes(sp, s.spanID[:])
		name := "work"
		if s.root {
			name = "request"
		} else {
			sp = protowire.AppendTag(sp, fSpanParentSpanID, protowire.BytesType)
			sp = protowire.AppendBytes(sp, s.parentID[:])
		}
		sp = protowire.AppendTag(sp, fSpanName, protowire.BytesType)
		sp = protowire.AppendString(sp, name)
		sp = protowire.AppendTag(sp, fSpanStart, protowire.Fixed64Type)
		sp = protowire.AppendFixed64(sp, start)
		sp = protowire.AppendTag(sp, fSpanEnd, protowire.Fixed64Type)
		sp = protowire.AppendFixed64(sp, end)
		sp = append(sp, e.attrs...)
		sp = protowire.AppendTag(sp, fSpanFlags, protowire.Fixed32Type)
		sp = protowire.AppendFixed32(sp, sampledFlag)

		// ScopeSpans{spans: [sp]} inside ResourceSpans{resource, scope_spans}.
		ssLen := protowire.SizeTag(fSSSpans) + protowire.SizeBytes(len(sp))
		rs = rs[:0]
		rs = protowire.AppendTag(rs, fRSResource, protowire.BytesType)
		rs = protowire.AppendBytes(rs, res)
		rs = protowire.AppendTag(rs, fRSScopeSpans, protowire.BytesType)
		rs = protowire.AppendVarint(rs, uint64(ssLen))
		rs = protowire.AppendTag(rs, fSSSpans, protowire.BytesType)
		rs = protowire.AppendBytes(rs, sp)
		out = protowire.AppendTag(out, fReqResourceSpans, protowire.BytesType)
		out = protowire.AppendBytes(out, rs)
	}
	return out
}
