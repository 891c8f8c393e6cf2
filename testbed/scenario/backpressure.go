package scenario

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var backpressure = Scenario{
	Name: "backpressure",
	Title: "foundations-mode producers (a new connection per request, one request in flight each, never a retry: a non-2xx answer is loss) " +
		"against a destination of limited capacity, memory_limiter alike on both pipelines: (a) bursts above the destination's capacity, " +
		"the average below it; (b) sustained overload",
	run: runBackpressure,
}

// The scenario's settings, the same on both pipelines.
const (
	// memory_limiter: a soft limit of 48 MiB of heap, which what the
	// destination cannot take at once fills.
	bpLimitMiB = 64
	bpSpikeMiB = 16
	// sending_queue.queue_size in requests (batches): the stock default,
	// written out so both pipelines have it. memory_limiter, not the
	// queue, is what fills first.
	bpQueueSize = 1000
	// The exporter's timeout: the destination answers slowly (a batch of
	// 8192 spans takes 0.8 s at 10,000 spans/s, and up to 10 queue
	// consumers wait their turn), it never refuses.
	bpExporterTimeout = 60 * time.Second
	// bpProducers is the number of foundations export tasks.
	bpProducers = 4
	// bpProducerTimeout bounds one request of a producer; foundations has
	// none, so only a wait this long counts as no answer (lost).
	bpProducerTimeout = 30 * time.Second
)

// The noise margins of the comparison with stock (the README's
// backpressure section gives the runs they come from). Both pipelines
// refuse at the same memory_limiter; how much each takes in before it
// refuses depends on where garbage collection has left the heap when the
// limiter checks, which moves by a few requests each time the load fills
// memory, whatever the load's size.
const (
	// bpMarginRequests: requests of 512 spans (two per producer)
	// tracebound may deliver less than stock per time the load fills
	// memory_limiter (each burst of (a), the onset of (b))...
	bpMarginRequests = 8
	// bpMarginShare: ...or this share of the offered spans, whichever is
	// more.
	bpMarginShare = 0.05
)

// deliveredMargin is how many delivered spans less than stock are noise.
func deliveredMargin(c bpCase, offered int64) int64 {
	return max(int64(math.Ceil(bpMarginShare*float64(offered))),
		int64(c.Fills*bpMarginRequests*loadgen.DefaultProducerSpansPerRequest))
}

// bpShape is the span of the scenario: foundations' user spans carry a
// handful of tags; these are larger, so that what the destination cannot
// take fills memory_limiter's 48 MiB within a burst.
var bpShape = loadgen.SpanShape{Attributes: 16, AttributeSize: 64}

// bpCase is one load of the scenario.
type bpCase struct {
	Name     string          `json:"name"`
	Title    string          `json:"title"`
	Phases   []loadgen.Phase `json:"phases"`
	Duration time.Duration   `json:"duration_ns"`
	// MeanRate is the offered spans/s averaged over the load.
	MeanRate float64 `json:"mean_rate"`
	// Bursts: the goals of case (a) apply.
	Bursts bool `json:"bursts"`
	// Fills is how many times the load fills memory: the bursts, or the
	// onset of an overload.
	Fills int `json:"fills"`
}

// bpCases returns the two loads for a destination of capacity spans/s.
func bpCases(e *Env, capacity int) []bpCase {
	// (a) A burst at 3x the capacity, then a quiet stretch at a tenth of
	// it, long enough for the destination to take what the burst left
	// over: 3x for b, 0.1x for 3b, a mean of 0.825x the capacity; the
	// excess of a burst (2x capacity x b) drains at 0.9x in 2.2 b.
	burst := pick(e, 3*time.Second, 1500*time.Millisecond)
	cycle := []loadgen.Phase{{Rate: 3 * capacity, Duration: burst}, {Rate: capacity / 10, Duration: 3 * burst}}
	cycles := pick(e, 2, 1)
	if e.Duration > 0 {
		cycles = max(1, int(math.Round(float64(e.Duration)/float64(4*burst))))
	}
	var phases []loadgen.Phase
	for range cycles {
		phases = append(phases, cycle...)
	}
	var spans float64
	var d time.Duration
	for _, p := range phases {
		spans += float64(p.Rate) * p.Duration.Seconds()
		d += p.Duration
	}
	over := e.duration(pick(e, 15*time.Second, 3*time.Second))
	return []bpCase{
		{Name: "bursts", Title: "(a) bursts above capacity, average below", Phases: phases, Duration: d, MeanRate: spans / d.Seconds(), Bursts: true, Fills: cycles},
		{Name: "overload", Title: "(b) sustained overload", Phases: []loadgen.Phase{{Rate: 2 * capacity, Duration: over}}, Duration: over, MeanRate: float64(2 * capacity), Fills: 1},
	}
}

// bpSide is what one pipeline did with one case's load.
type bpSide struct {
	Pipeline string `json:"pipeline"`
	// From the producers: offered by the application, answered 2xx,
	// refused (non-2xx), no answer, rejected by partial success, dropped
	// because the application's queue was full, still queued at the end.
	Offered   int64 `json:"offered"`
	Answered  int64 `json:"answered_2xx"`
	Refused   int64 `json:"refused"`
	NoAnswer  int64 `json:"no_answer"`
	Rejected  int64 `json:"rejected"`
	QueueFull int64 `json:"queue_full"`
	Unsent    int64 `json:"unsent"`
	// Delivered is what the destination received; Undelivered2xx what was
	// answered 2xx and never arrived; CountedLost what the collector's
	// own metrics count as lost after accepting it.
	Delivered      int64                `json:"delivered"`
	Undelivered2xx int64                `json:"undelivered_2xx"`
	CountedLost    int64                `json:"counted_lost"`
	PeakRSSMiB     float64              `json:"peak_rss_mib"`
	Answers        *loadgen.AnswerTimes `json:"answer_ms,omitempty"`
	// ReceiverAccepted and LimiterRefused are the collector's counters.
	ReceiverAccepted float64 `json:"receiver_accepted"`
	LimiterRefused   float64 `json:"limiter_refused"`
	// Waits are otlpuds' waiting-admission metrics, when the binary has
	// them (any metric whose name holds "otlpuds" and "wait").
	Waits map[string]float64 `json:"waits,omitempty"`
}

// lost is what the producers lost at the door: refused, unanswered or
// rejected.
func (s bpSide) lost() int64 { return s.Refused + s.NoAnswer + s.Rejected }

func runBackpressure(e *Env) error {
	capacity := e.rate(pick(e, 10_000, 6_000))
	cases := bpCases(e, capacity)
	e.res.extra("memory_limiter", map[string]int{"limit_mib": bpLimitMiB, "spike_limit_mib": bpSpikeMiB})
	e.res.extra("destination_capacity_spans_per_s", capacity)
	e.res.extra("sending_queue_size", bpQueueSize)
	e.res.extra("producers", bpProducers)
	e.res.extra("cases", cases)
	e.res.extra("margins", map[string]float64{"delivered_requests_per_fill": bpMarginRequests, "delivered_share_of_offered": bpMarginShare, "peak_rss": rssNoiseMargin})
	table := Table{
		Title: fmt.Sprintf("Per side: %d foundations-mode producers, destination capacity %s spans/s, memory_limiter %d MiB (spike %d), sending_queue %d, the same on both",
			bpProducers, commas(int64(capacity)), bpLimitMiB, bpSpikeMiB, bpQueueSize),
		Header: []string{"Case", "Pipeline", "Offered", "Answered 2xx", "Refused", "Delivered", "2xx never delivered (counted)", "Peak RSS MiB", "Answer p50 / p99 / max", "Waits (otlpuds)"},
	}
	for i, c := range cases {
		tb, bl, err := bothSides(i, func(p string) (bpSide, error) { return e.bpRun(p, c, capacity) })
		if err != nil {
			return err
		}
		e.res.extra("sides_"+c.Name, []bpSide{tb, bl})
		e.bpChecks(c, tb, bl)
		for _, s := range []bpSide{tb, bl} {
			table.Rows = append(table.Rows, bpRow(c, s))
		}
	}
	table.Notes = []string{
		"Offered: spans the producers' application produced. Answered 2xx, Refused (non-2xx, plus requests without an answer or spans rejected by partial success, when any): what the collector answered; for a producer that never retries a refusal is loss. " +
			"Delivered: spans the destination received. 2xx never delivered: answered 2xx minus delivered; in brackets what the collector's own metrics count as lost after accepting (destinations' spans_lost and spans_dropped, trace_routing's drops; stock: the exporter's send_failed and enqueue_failed). " +
			"Answer times: how long a producer waited for its answer. Waits: otlpuds' admission metrics at the end of the run, summed over their labels (waited: requests that waited; gate_held: those of them the heap gate held for a paced offer; wait_time: how many waits and their mean; refused: requests refused after all; waiting, waiting_bytes, in_flight_bytes: gauges, 0 when idle), \"-\" when the binary has none.",
	}
	e.res.Tables = append(e.res.Tables, table)
	return nil
}

// bpRun runs one case through one pipeline.
func (e *Env) bpRun(pipeline string, c bpCase, capacity int) (bpSide, error) {
	bs, err := newBackends(mockbackend.Options{Name: "main"})
	if err != nil {
		return bpSide{}, err
	}
	defer closeAll(bs...)
	bs[0].SetCapacity(capacity)
	main := dest{Name: "main", URL: bs[0].URL, QueueSize: bpQueueSize, Timeout: bpExporterTimeout}
	spec := e.pipeline(pipeline, main)
	spec.MemLimitMiB, spec.SpikeMiB = bpLimitMiB, bpSpikeMiB
	load := loadgen.Config{
		Mode:           loadgen.ModeProducer,
		Duration:       c.Duration,
		RequestTimeout: bpProducerTimeout,
		Span:           bpShape,
		Trace:          loadgen.TraceShape{SpansPerTrace: 10},
		Producer:       loadgen.ProducerConfig{Producers: bpProducers, Phases: c.Phases},
		// Long enough for what producers kept in their queues to go out
		// at the destination's pace (overload: as much again as the load).
		DrainTimeout: c.Duration + pick(e, 30*time.Second, 10*time.Second),
	}
	// The producer sends its header whoever listens; only tracebound reads
	// it, and routes it to the destination.
	load.Routing = &loadgen.Routing{Configs: []loadgen.TraceConfig{
		{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers, RoutedTo: []string{"main"}},
	}}
	if spec.Routing {
		spec.Routes = []routeSpec{{Match: []condition{{Field: "account", Values: []string{"42"}}}, Destinations: []string{"main"}}}
	}
	l, err := e.launch(pipeline+" "+c.Name, pipeline, spec, bs...)
	if err != nil {
		return bpSide{}, err
	}
	// For a producer, a span never sent (its queue full, or still queued
	// at the end) is lost like a refused one.
	l.lossCountsUnsent = true
	st, _, err := l.load(e.ctx, load, 0)
	if err != nil {
		l.finish(c.MeanRate, st)
		return bpSide{}, err
	}
	// Everything answered 2xx arrives, or delivery stalls (what the
	// collector lost does not come).
	l.settle(func() bool { return l.delivered() >= st.SpansAccepted }, 10*time.Second, 2*time.Minute)
	run, m := l.finish(c.MeanRate, st)
	run.Metrics = mergeMetrics(run.Metrics, otlpudsWaits(m))
	s := bpSide{
		Pipeline: pipeline, Offered: st.SpansOffered, Answered: st.SpansAccepted,
		Refused: st.SpansRefused, NoAnswer: st.SpansNoAnswer, Rejected: st.SpansRejected,
		QueueFull: st.SpansQueueFull, Unsent: st.SpansUnsent,
		Delivered: run.DeliveredSpans, PeakRSSMiB: run.PeakRSSMiB, Answers: st.AnswerMs,
		CountedLost:      int64(countedLoss(m)),
		ReceiverAccepted: m.Sum(mReceiverAccepted, nil),
		LimiterRefused:   m.Sum(mLimiterRefused, nil),
		Waits:            otlpudsWaits(m),
	}
	s.Undelivered2xx = s.Answered - s.Delivered
	run.Notes = append(run.Notes, fmt.Sprintf("offered %s spans; answered 2xx %s, refused %s (HTTP %s), no answer %s, rejected %s; never sent %s (queue full %s, still queued at the end %s); delivered %s; answers %s",
		commas(s.Offered), commas(s.Answered), commas(s.Refused), statuses(st.StatusCounts), commas(s.NoAnswer), commas(s.Rejected),
		commas(s.QueueFull+s.Unsent), commas(s.QueueFull), commas(s.Unsent), commas(s.Delivered), st.AnswerMs))
	r := e.res
	r.Runs[len(r.Runs)-1] = run
	ok, d := eq(mReceiverAccepted, s.ReceiverAccepted, float64(s.Answered))
	r.check(Correctness, run.Label+": receiver metrics match the producers' 2xx answers", ok, d)
	return s, nil
}

// bpChecks judges one case: the goals of issue 11 (README: backpressure).
func (e *Env) bpChecks(c bpCase, tb, bl bpSide) {
	r := e.res
	name := c.Name + ": "
	margin := deliveredMargin(c, tb.Offered)
	// Without pressure on memory the case proves nothing.
	r.check(Correctness, name+"the load pressed memory_limiter",
		tb.LimiterRefused > 0 || bl.LimiterRefused > 0 || tb.lost() > 0 || bl.lost() > 0 || waited(tb.Waits),
		fmt.Sprintf("memory_limiter refused %s spans in tracebound, %s in stock; producers lost %s and %s at the door; otlpuds waits %s",
			commas(int64(tb.LimiterRefused)), commas(int64(bl.LimiterRefused)), commas(tb.lost()), commas(bl.lost()), waitsText(tb.Waits)))
	if tb.Offered != bl.Offered {
		r.check(Correctness, name+"both pipelines were offered the same load", false,
			fmt.Sprintf("tracebound %s, stock %s spans", commas(tb.Offered), commas(bl.Offered)))
	}
	r.check(Correctness, fmt.Sprintf("%stracebound delivers no less than stock (margin: %d requests per fill, or %s of offered)", name, bpMarginRequests, pct(bpMarginShare)),
		tb.Delivered >= bl.Delivered-margin,
		fmt.Sprintf("tracebound %s (%s of offered), stock %s (%s), margin %s spans",
			commas(tb.Delivered), pctOf(tb.Delivered, tb.Offered), commas(bl.Delivered), pctOf(bl.Delivered, bl.Offered), commas(margin)))
	r.checkPeakRSSAtMostStock(name, tb.PeakRSSMiB, bl.PeakRSSMiB)
	// Nothing answered 2xx may vanish: it arrives, or the collector counts
	// it lost, never both, never more than once.
	r.check(Correctness, name+"tracebound: every span answered 2xx delivered or counted lost, none twice",
		tb.Delivered+tb.CountedLost == tb.Answered && tb.Delivered <= tb.Answered,
		fmt.Sprintf("answered 2xx %s = delivered %s + counted lost %s (uncounted %s)",
			commas(tb.Answered), commas(tb.Delivered), commas(tb.CountedLost), commas(tb.Answered-tb.Delivered-tb.CountedLost)))
	if c.Bursts {
		r.check(Correctness, name+"tracebound refuses nothing", tb.lost() == 0,
			fmt.Sprintf("refused %s spans, no answer %s, rejected %s, of %s offered (stock refused %s)",
				commas(tb.Refused), commas(tb.NoAnswer), commas(tb.Rejected), commas(tb.Offered), commas(bl.lost())))
		r.check(Correctness, name+"tracebound delivers 100% of what the producers offered", tb.Delivered == tb.Offered,
			fmt.Sprintf("delivered %s of %s offered (%s); stock %s (%s)",
				commas(tb.Delivered), commas(tb.Offered), pctOf(tb.Delivered, tb.Offered), commas(bl.Delivered), pctOf(bl.Delivered, bl.Offered)))
		r.check(Correctness, name+"tracebound: nothing answered 2xx goes undelivered", tb.Undelivered2xx == 0,
			fmt.Sprintf("answered 2xx %s, delivered %s", commas(tb.Answered), commas(tb.Delivered)))
	}
	r.check(Info, name+"stock", true,
		fmt.Sprintf("offered %s, answered 2xx %s, refused %s, delivered %s (%s), 2xx never delivered %s (counted %s)",
			commas(bl.Offered), commas(bl.Answered), commas(bl.lost()), commas(bl.Delivered), pctOf(bl.Delivered, bl.Offered),
			commas(bl.Undelivered2xx), commas(bl.CountedLost)))
	if bl.PeakRSSMiB > 0 {
		r.ratio("peak_rss_"+c.Name, tb.PeakRSSMiB/bl.PeakRSSMiB)
	}
	if bl.Delivered > 0 {
		r.ratio("delivered_"+c.Name, float64(tb.Delivered)/float64(bl.Delivered))
	}
}

// bpRow is one line of the per-side table.
func bpRow(c bpCase, s bpSide) []string {
	who := "tracebound"
	if s.Pipeline == Baseline {
		who = "stock"
	}
	refused := commas(s.Refused)
	var extra []string
	if s.NoAnswer > 0 {
		extra = append(extra, commas(s.NoAnswer)+" no answer")
	}
	if s.Rejected > 0 {
		extra = append(extra, commas(s.Rejected)+" rejected")
	}
	if n := s.QueueFull + s.Unsent; n > 0 {
		extra = append(extra, commas(n)+" never sent")
	}
	if len(extra) > 0 {
		refused += " (+ " + strings.Join(extra, ", ") + ")"
	}
	waits := "-"
	if s.Pipeline == Tracebound {
		waits = waitsText(s.Waits)
	}
	return []string{
		c.Title, who, commas(s.Offered), commas(s.Answered), refused,
		fmt.Sprintf("%s (%s)", commas(s.Delivered), pctOf(s.Delivered, s.Offered)),
		fmt.Sprintf("%s (%s)", commas(s.Undelivered2xx), commas(s.CountedLost)),
		fmt.Sprintf("%.0f", s.PeakRSSMiB), answersText(s.Answers), waits,
	}
}

// countedLoss is what the collector counts as lost after accepting: the
// destinations exporter's losses and drops and trace_routing's drops when
// it runs (its inner otlphttp exporters' counters would count the same
// spans again), else the stock exporter's failures.
func countedLoss(m collector.Metrics) float64 {
	if m.Has(mDestSent) || m.Has(mDestLost) || m.Has(mDestRouted) {
		return m.Sum(mDestLost, nil) + m.Sum(mDestDropped, nil) + m.Sum(mRoutingDropped, nil)
	}
	return m.Sum(mExporterSendFailed, nil) + m.Sum(mExporterEnqFailed, nil)
}

// otlpudsWaits returns otlpuds' waiting-admission metrics: every sample
// whose name holds "otlpuds" and "wait" or "admission" (histogram buckets
// left out), by name and labels: requests that waited, the time they
// waited, those refused after all, and the gauges of what waits now. A
// binary without the waiting admission has none.
func otlpudsWaits(m collector.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m {
		if strings.Contains(s.Name, "otlpuds") && (strings.Contains(s.Name, "wait") || strings.Contains(s.Name, "admission")) &&
			!strings.HasSuffix(s.Name, "_bucket") {
			out[s.Key()] += s.Value
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// waitsByName sums the wait metrics over their labels, by name without
// the common prefix and the _total suffix.
func waitsByName(w map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range w {
		name, _, _ := strings.Cut(k, "{")
		for _, p := range []string{"otelcol_receiver_otlpuds_", "otelcol_otlpuds_", "otelcol_"} {
			name = strings.TrimPrefix(name, p)
		}
		name = strings.TrimPrefix(name, "admission_")
		out[strings.TrimSuffix(name, "_total")] += v
	}
	return out
}

// waited reports whether the wait metrics say a request waited: a count of
// requests that waited, or of wait times recorded.
func waited(w map[string]float64) bool {
	for k, v := range waitsByName(w) {
		if v > 0 && (strings.HasSuffix(k, "waited") || (strings.Contains(k, "wait") && strings.HasSuffix(k, "_count"))) {
			return true
		}
	}
	return false
}

// waitsText renders the wait metrics compactly, summed over their labels
// (the JSON keeps them by label): a histogram as its count and mean,
// anything else as its value; "-" when there are none.
func waitsText(w map[string]float64) string {
	if len(w) == 0 {
		return "-"
	}
	byName := waitsByName(w)
	names := make([]string, 0, len(byName))
	for k := range byName {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, "_sum"); ok {
			if n, ok := byName[base+"_count"]; ok {
				// A time without a unit in its name is in seconds, the
				// collector's unit for durations (otlpuds' wait_time
				// declares "s" and reaches Prometheus without a suffix).
				unit := ""
				switch {
				case strings.HasSuffix(base, "_milliseconds"):
					unit = " ms"
				case strings.HasSuffix(base, "_seconds"), strings.HasSuffix(base, "time"), strings.HasSuffix(base, "duration"):
					unit = " s"
				}
				mean := "-"
				if n > 0 {
					mean = fmt.Sprintf("%.3g%s", byName[name]/n, unit)
				}
				parts = append(parts, fmt.Sprintf("%s: %s, mean %s", base, num(n), mean))
				continue
			}
		}
		if base, ok := strings.CutSuffix(name, "_count"); ok {
			if _, ok := byName[base+"_sum"]; ok {
				continue
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, num(byName[name])))
	}
	return strings.Join(parts, "; ")
}

func answersText(a *loadgen.AnswerTimes) string {
	if a == nil {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s ms", millis(a.P50), millis(a.P99), millis(a.Max))
}

// millis prints milliseconds: one decimal under 10, whole above.
func millis(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.1f", ms)
	}
	return commas(int64(math.Round(ms)))
}

// statuses renders the answers by HTTP status, 0 for no answer.
func statuses(counts map[int]int64) string {
	keys := make([]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d: %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

func mergeMetrics(a, b map[string]float64) map[string]float64 {
	if a == nil {
		a = map[string]float64{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

func pct(f float64) string { return fmt.Sprintf("%g%%", 100*f) }

func pctOf(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// num prints a value: whole numbers with thousands separators.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return commas(int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

// commas prints an integer with thousands separators.
func commas(n int64) string {
	s := fmt.Sprintf("%d", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
