package loadgen

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what one run sent. Spans are counted once per request, however
// many attempts the request took.
type Stats struct {
	Requests         int64 `json:"requests"`
	RequestsAccepted int64 `json:"requests_accepted"`
	RequestsFailed   int64 `json:"requests_failed"`
	Attempts         int64 `json:"attempts"`
	Retries          int64 `json:"retries"`
	// Throttled counts 429 and 503 answers; SpansThrottled the spans those
	// answers refused (a request refused twice counts twice), which is what
	// a collector counts as refused.
	Throttled      int64 `json:"throttled"`
	SpansThrottled int64 `json:"spans_throttled"`
	// RetryAfterSeen counts refusals that carried a Retry-After header.
	RetryAfterSeen int64 `json:"retry_after_seen"`
	ConnErrors     int64 `json:"conn_errors"`
	SpansSent      int64 `json:"spans_sent"`
	// SpansUnoffered counts the spans the schedule (Rate over Duration,
	// within the plan and MaxRequests) held before the end of Duration but
	// that were never sent, because every worker was busy, for instance
	// retrying a dead socket: an application would have produced them.
	// Always 0 when Rate is 0.
	SpansUnoffered int64 `json:"spans_unoffered"`
	SpansAccepted  int64 `json:"spans_accepted"`
	SpansFailed    int64 `json:"spans_failed"`
	// SpansRejected is the sum of partial-success rejected_spans.
	SpansRejected int64 `json:"spans_rejected"`
	// ByDestination counts accepted spans per destination of the request's
	// trace config (TraceConfig.Routes: named in the header, or the
	// destinations the collector's routes are expected to pick; a request
	// with several counts for each); "" counts the spans of requests
	// expected to reach none: sent without a header, or with a config
	// that names and is routed to nothing.
	ByDestination map[string]int64 `json:"by_destination,omitempty"`
	// ByConfig counts accepted spans per entry of Routing.Configs (after
	// its defaults: one per set or destination when Configs was empty);
	// requests without a header count in none.
	ByConfig     []int64       `json:"by_config,omitempty"`
	StatusCounts map[int]int64 `json:"status_counts,omitempty"`

	// Producer mode only (Mode "producer"): SpansOffered is what the
	// application produced; SpansQueueFull what it dropped because its
	// queue was full; SpansUnsent what was still queued when the run
	// ended; the two make SpansUnoffered, and SpansSent is the rest, sent
	// once each. Of those, SpansAccepted were answered 2xx, SpansRefused
	// answered otherwise and SpansNoAnswer got no answer (connection
	// error, timeout): SpansFailed is the two, lost, as nothing is retried.
	// QueuePeakSpans is the most the queue held; AnswerMs how long the
	// answers took.
	Mode           string        `json:"mode,omitempty"`
	SpansOffered   int64         `json:"spans_offered,omitempty"`
	SpansQueueFull int64         `json:"spans_queue_full,omitempty"`
	SpansUnsent    int64         `json:"spans_unsent,omitempty"`
	SpansRefused   int64         `json:"spans_refused,omitempty"`
	SpansNoAnswer  int64         `json:"spans_no_answer,omitempty"`
	QueuePeakSpans int64         `json:"queue_peak_spans,omitempty"`
	AnswerMs       *AnswerTimes  `json:"answer_ms,omitempty"`
	LastError      string        `json:"last_error,omitempty"`
	Elapsed        time.Duration `json:"elapsed_ns"`
	// OfferTime is how long requests were offered (until Duration or the end
	// of the plan), the base of OfferedRate.
	OfferTime   time.Duration `json:"offer_time_ns"`
	OfferedRate float64       `json:"offered_rate"`
}

// Generator runs one load.
type Generator struct {
	cfg     Config
	client  *Client
	builder *payloadBuilder
	plan    *planner

	sent, accepted, failed atomic.Int64

	mu      sync.Mutex
	stats   Stats
	parents map[[8]byte]sentSpan // RecordParents only
	order   int64                // spans recorded so far
	prod    producerStats        // ModeProducer only
}

// sentSpan is what RecordParents keeps of one span.
type sentSpan struct {
	parent [8]byte
	order  int64
}

// New checks cfg and prepares a generator.
func New(cfg Config) (*Generator, error) {
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:    cfg,
		client: NewClient(cfg.Endpoint, cfg.Workers, cfg.RequestTimeout),
		plan:   newPlanner(cfg.Trace),
		stats:  Stats{ByDestination: map[string]int64{}, StatusCounts: map[int]int64{}},
	}
	if cfg.Mode == ModeProducer {
		g.client = newProducerClient(cfg.Endpoint, cfg.RequestTimeout)
	}
	g.builder = newPayloadBuilder(&g.cfg)
	if cfg.Routing != nil {
		g.stats.ByConfig = make([]int64, len(cfg.Routing.Configs))
	}
	if cfg.RecordParents {
		g.parents = map[[8]byte]sentSpan{}
	}
	return g, nil
}

// PlannedSpans is the number of spans the trace shape holds; 0 when the run
// is bounded by time only.
func (g *Generator) PlannedSpans() int64 { return g.plan.total() }

// Progress returns the spans sent (offered), accepted and failed so far; it
// is safe to call during Run.
func (g *Generator) Progress() (sent, accepted, failed int64) {
	return g.sent.Load(), g.accepted.Load(), g.failed.Load()
}

// Sent returns the parent spanID was sent with (zero for a root) and its
// place in the order the spans were handed to the workers, from 0; ok is
// false for a span never sent or without RecordParents. With one worker the
// order is the order in which the collector receives the spans; with more,
// concurrent requests may swap places.
func (g *Generator) Sent(spanID [8]byte) (parent [8]byte, order int64, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.parents[spanID]
	return s.parent, s.order, ok
}

type job struct {
	seq   int64
	spans int
	specs []spanSpec // encoded by the worker, so encoding runs in parallel
	cfg   int        // index in Routing.Configs; -1: no trace config header
	hdr   string
}

// Run offers the load and returns when every offered request was accepted,
// failed for good, or ran out of retry time. It stops offering at Duration,
// MaxRequests, the end of the plan or ctx's end, whichever comes first. In
// producer mode it returns when the producers have sent everything queued,
// or at Duration + DrainTimeout, what is still queued then counted unsent.
func (g *Generator) Run(ctx context.Context) Stats {
	if g.cfg.Mode == ModeProducer {
		return g.runProducers(ctx)
	}
	defer g.client.Close()
	start := time.Now()
	offerEnd := start.Add(g.cfg.Duration)
	hardEnd := offerEnd.Add(g.cfg.DrainTimeout)
	runCtx, cancel := context.WithDeadline(ctx, hardEnd)
	defer cancel()

	jobs := make(chan job, g.cfg.Workers)
	var wg sync.WaitGroup
	for range g.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				body, err := g.builder.build(j.specs, j.seq)
				if err != nil {
					g.record(j, false, Result{Err: err})
					continue
				}
				g.send(runCtx, j, body)
			}
		})
	}

	var seq int64
	var planned int64
offer:
	for {
		if g.cfg.MaxRequests > 0 && seq >= int64(g.cfg.MaxRequests) {
			break
		}
		if g.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(planned) / float64(g.cfg.Rate) * float64(time.Second)))
			if due.After(offerEnd) {
				break
			}
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					break offer
				case <-t.C:
				}
			}
		}
		if !time.Now().Before(offerEnd) || ctx.Err() != nil {
			break
		}
		specs := make([]spanSpec, g.cfg.SpansPerRequest)
		n := g.plan.fill(specs)
		if n == 0 {
			break
		}
		if g.parents != nil {
			// Recorded before the request is offered: one that is never
			// offered leaves records of spans the backend never sees,
			// which the checks do not mind.
			g.mu.Lock()
			for i := range specs[:n] {
				g.parents[specs[i].spanID] = sentSpan{parent: specs[i].parentID, order: g.order}
				g.order++
			}
			g.mu.Unlock()
		}
		hdr, tc := g.builder.header(seq)
		planned += int64(n)
		g.sent.Add(int64(n))
		// A request the workers cannot take before the end of the offer is
		// not offered at all: the run stays bounded by Duration.
		offerTimer := time.NewTimer(time.Until(offerEnd))
		select {
		case jobs <- job{seq: seq, spans: n, specs: specs[:n], cfg: tc, hdr: hdr}:
			offerTimer.Stop()
		case <-offerTimer.C:
			g.sent.Add(-int64(n))
			break offer
		case <-ctx.Done():
			offerTimer.Stop()
			g.sent.Add(-int64(n))
			break offer
		}
		seq++
	}
	offerStop := time.Now()
	close(jobs)
	wg.Wait()

	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.stats
	st.Requests = seq
	st.SpansSent = g.sent.Load()
	st.SpansUnoffered = max(0, dueSpans(g.cfg, g.plan.total())-st.SpansSent)
	st.Elapsed = time.Since(start)
	st.OfferTime = offerStop.Sub(start)
	if st.OfferTime > 0 {
		st.OfferedRate = float64(st.SpansSent) / st.OfferTime.Seconds()
	}
	return st
}

// dueSpans is the number of spans the schedule offers before the end of
// Duration: requests go out every SpansPerRequest/Rate seconds from the
// start, those due strictly before the end, at most MaxRequests of them,
// at most planTotal spans (when not 0). 0 when Rate is 0 (no schedule).
func dueSpans(cfg Config, planTotal int64) int64 {
	if cfg.Rate <= 0 || cfg.SpansPerRequest <= 0 {
		return 0
	}
	// Request k is due at k*SpansPerRequest/Rate s: count k with
	// k*SpansPerRequest*1e9 < Duration(ns)*Rate.
	num := int64(cfg.Duration) * int64(cfg.Rate)
	den := int64(cfg.SpansPerRequest) * int64(time.Second)
	requests := (num + den - 1) / den
	if cfg.MaxRequests > 0 {
		requests = min(requests, int64(cfg.MaxRequests))
	}
	spans := requests * int64(cfg.SpansPerRequest)
	if planTotal > 0 {
		spans = min(spans, planTotal)
	}
	return spans
}

// headers are the request headers of j: its trace config, when it has one.
func (g *Generator) headers(j job) map[string]string {
	if j.hdr == "" {
		return nil
	}
	return map[string]string{g.cfg.Routing.Header: j.hdr}
}

// send posts one request, retrying while the policy allows.
func (g *Generator) send(ctx context.Context, j job, body []byte) {
	headers := g.headers(j)
	first := time.Now()
	backoff := g.cfg.Retry.InitialInterval
	for attempt := 0; ; attempt++ {
		res := g.client.Post(ctx, body, g.cfg.JSON, headers)
		g.countAttempt(attempt, res, j.spans)
		if res.Status == 200 {
			g.record(j, true, res)
			return
		}
		if g.cfg.Retry.Disabled || !res.Retryable() {
			g.record(j, false, res)
			return
		}
		wait := res.RetryAfter
		if wait <= 0 {
			// Full jitter keeps retrying workers from moving in lock step.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, g.cfg.Retry.MaxInterval)
		}
		if time.Since(first)+wait > g.cfg.Retry.MaxElapsed {
			g.record(j, false, res)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			g.record(j, false, Result{Err: ctx.Err()})
			return
		case <-t.C:
		}
	}
}

func (g *Generator) countAttempt(attempt int, res Result, spans int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stats.Attempts++
	if attempt > 0 {
		g.stats.Retries++
	}
	g.stats.StatusCounts[res.Status]++
	switch res.Status {
	case 0:
		g.stats.ConnErrors++
	case 429, 503:
		g.stats.Throttled++
		g.stats.SpansThrottled += int64(spans)
		if res.RetryAfter > 0 {
			g.stats.RetryAfterSeen++
		}
	}
}

func (g *Generator) record(j job, ok bool, res Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ok {
		g.stats.RequestsAccepted++
		accepted := int64(j.spans) - res.Rejected
		g.stats.SpansAccepted += accepted
		g.stats.SpansRejected += res.Rejected
		var routes []string
		if j.cfg >= 0 {
			g.stats.ByConfig[j.cfg] += accepted
			routes = g.cfg.Routing.Configs[j.cfg].Routes()
		}
		if len(routes) == 0 {
			g.stats.ByDestination[""] += accepted
		}
		for _, d := range routes {
			g.stats.ByDestination[d] += accepted
		}
		g.accepted.Add(accepted)
		if res.Rejected > 0 {
			g.failed.Add(res.Rejected)
		}
		return
	}
	g.stats.RequestsFailed++
	g.stats.SpansFailed += int64(j.spans)
	g.failed.Add(int64(j.spans))
	if res.Err != nil {
		g.stats.LastError = res.Err.Error()
	}
}
