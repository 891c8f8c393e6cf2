package scenario

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

var hostile = Scenario{
	Name: "hostile",
	Title: "a well-behaved foundations-mode producer beside a hostile sender on the same socket: (a) 40 concurrent zstd decompression bombs, " +
		"(b) poison spans nested deeper than a protobuf decoder takes; tracebound and stock alike",
	run: runHostile,
}

// The scenario's settings, the same on both pipelines where both have them.
const (
	// hostileRequestLimitMiB is otlpuds' admission::request_limit_mib, set
	// explicitly (it is the default) because the bombs' goal is stated
	// against it.
	hostileRequestLimitMiB = 128
	// hostileRSSAllowanceMiB is what the goal allows above that budget:
	// the process itself, its pipeline and garbage not yet collected.
	hostileRSSAllowanceMiB = 100
	// memory_limiter on both pipelines: generous, so that it is the
	// hostile sender, not the good one's load, that tells them apart.
	hostileLimitMiB = 512
	hostileSpikeMiB = 128
	// hostileBombs senders each keep one bomb in flight, inflating to
	// hostileBombInflated bytes, past the default max_request_body_size
	// (20 MiB) of both receivers.
	hostileBombs        = 40
	hostileBombInflated = 64 << 20
	// hostilePoisonDepth is the poison: an attribute nested 150
	// deep (pdata's protobuf decoder stops at 100). Two senders with a
	// pause of 100 ms: about 20 poison requests a second.
	hostilePoisonDepth   = 150
	hostilePoisonSenders = 2
	hostilePoisonPause   = 100 * time.Millisecond
	// The good producer's service and the poison's, told apart at the
	// backend by service.name.
	hostileGoodService   = "good-producer"
	hostilePoisonService = "poison-sender"
)

// hostileCase is one kind of hostile sender.
type hostileCase struct {
	Name  string
	Title string
	// barrage returns the hostile sender for a socket and the trace config
	// header the good producer sends.
	barrage func(socket string, headers map[string]string) (loadgen.Barrage, error)
}

var hostileCases = []hostileCase{
	{
		Name:  "bombs",
		Title: fmt.Sprintf("(a) %d concurrent zstd bombs inflating to %d MiB, half declaring their size in the frame header, half streamed", hostileBombs, hostileBombInflated>>20),
		barrage: func(socket string, headers map[string]string) (loadgen.Barrage, error) {
			// Half the senders send a bomb whose header declares its
			// size, half a streamed one that declares none: a collector
			// must decode the latter to the limit to refuse it.
			declared, err := loadgen.ZstdBomb(hostileBombInflated, true)
			if err != nil {
				return loadgen.Barrage{}, err
			}
			streamed, err := loadgen.ZstdBomb(hostileBombInflated, false)
			h := map[string]string{"Content-Encoding": "zstd"}
			for k, v := range headers {
				h[k] = v
			}
			return loadgen.Barrage{Endpoint: socket, Bodies: [][]byte{declared, streamed}, Headers: h, Senders: hostileBombs, Timeout: 30 * time.Second}, err
		},
	},
	{
		Name:  "poison",
		Title: fmt.Sprintf("(b) poison: a span with an attribute nested %d deep, about %d requests/s", hostilePoisonDepth, int(hostilePoisonSenders*time.Second/hostilePoisonPause)),
		barrage: func(socket string, headers map[string]string) (loadgen.Barrage, error) {
			return loadgen.Barrage{
				Endpoint: socket, Body: loadgen.PoisonJSON(hostilePoisonDepth, hostilePoisonService), JSON: true, Headers: headers,
				Senders: hostilePoisonSenders, Pause: hostilePoisonPause, Timeout: 30 * time.Second,
			}, nil
		},
	},
}

// hostileSide is what one pipeline did with one case.
type hostileSide struct {
	Pipeline string `json:"pipeline"`
	// The good producer's spans: offered, answered 2xx, lost at the door
	// (refused, unanswered or rejected), and delivered to the backend.
	GoodOffered   int64 `json:"good_offered"`
	GoodAnswered  int64 `json:"good_answered_2xx"`
	GoodLost      int64 `json:"good_lost_at_door"`
	GoodDelivered int64 `json:"good_delivered"`
	// GoodAnswers is how long the good producer waited for its answers.
	GoodAnswers *loadgen.AnswerTimes `json:"good_answer_ms,omitempty"`
	// HostileDelivered is what of the hostile sender reached the backend.
	Hostile          loadgen.BarrageStats `json:"hostile"`
	HostileDelivered int64                `json:"hostile_delivered"`
	// BackendRefused counts requests the backend could not decode (what a
	// collector sent on that a protobuf decoder refuses).
	BackendRefused int64   `json:"backend_refused_requests"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
}

// acknowledgedLost is what the good producer was answered 2xx for and the
// backend never received.
func (s hostileSide) acknowledgedLost() int64 { return s.GoodAnswered - s.GoodDelivered }

func runHostile(e *Env) error {
	rate := e.rate(pick(e, 5_000, 2_000))
	d := e.duration(pick(e, 20*time.Second, 5*time.Second))
	e.res.extra("good_producer_rate", rate)
	e.res.extra("duration_ns", d)
	e.res.extra("memory_limiter", map[string]int{"limit_mib": hostileLimitMiB, "spike_limit_mib": hostileSpikeMiB})
	e.res.extra("otlpuds_request_limit_mib", hostileRequestLimitMiB)
	table := Table{
		Title: fmt.Sprintf("Per side: one foundations-mode producer at %s spans/s for %s beside the hostile sender; memory_limiter %d MiB (spike %d) on both; otlpuds request_limit_mib %d",
			commas(int64(rate)), d, hostileLimitMiB, hostileSpikeMiB, hostileRequestLimitMiB),
		Header: []string{"Case", "Pipeline", "Good: offered", "answered 2xx", "lost at the door", "delivered", "2xx never delivered", "answer p50 / p99 / max", "Hostile: requests (answers)", "reached the backend", "Backend 400s", "Peak RSS MiB"},
	}
	for i, c := range hostileCases {
		tb, bl, err := bothSides(i, func(p string) (hostileSide, error) { return e.hostileRun(p, c, rate, d) })
		if err != nil {
			return err
		}
		e.res.extra("sides_"+c.Name, []hostileSide{tb, bl})
		e.hostileChecks(c, tb, bl)
		for _, s := range []hostileSide{tb, bl} {
			table.Rows = append(table.Rows, hostileRow(c, s))
		}
	}
	table.Notes = []string{
		"Good: the well-behaved producer's spans (service.name " + hostileGoodService + "); lost at the door: refused, unanswered or rejected, each lost since this producer never retries; " +
			"2xx never delivered: answered 2xx but never received by the backend; answer: how long the producer waited for each answer, in ms. Hostile: the hostile sender's requests by HTTP status. " +
			"Backend 400s: requests the backend (which decodes with pdata, as a real backend or the next collector would) refused as undecodable, each taking its whole batch with it.",
	}
	e.res.Tables = append(e.res.Tables, table)
	return nil
}

// hostileRun runs the good producer and one hostile sender through one
// pipeline at once.
func (e *Env) hostileRun(pipeline string, c hostileCase, rate int, d time.Duration) (hostileSide, error) {
	// Counting service.name makes the backend decode every request with
	// pdata, so it refuses what a real backend would.
	bs, err := newBackends(mockbackend.Options{Name: "main", CountAttributes: []string{"service.name"}})
	if err != nil {
		return hostileSide{}, err
	}
	defer closeAll(bs...)
	spec := e.pipeline(pipeline, dest{Name: "main", URL: bs[0].URL})
	spec.MemLimitMiB, spec.SpikeMiB = hostileLimitMiB, hostileSpikeMiB
	if pipeline == Tracebound {
		spec.RequestLimitMiB = hostileRequestLimitMiB
	}
	tc := loadgen.TraceConfig{Account: "42", Zone: "12345", Encoding: loadgen.EncodingJSONNumbers, RoutedTo: []string{"main"}}
	if spec.Routing {
		spec.Routes = []routeSpec{{Match: []condition{{Field: "account", Values: []string{"42"}}}, Destinations: []string{"main"}}}
	}
	// The hostile sender sends the good producer's trace config: the body
	// alone tells it apart, so routing cannot drop it for want of one.
	header, err := tc.Header()
	if err != nil {
		return hostileSide{}, err
	}
	barrage, err := c.barrage(spec.Socket, map[string]string{loadgen.DefaultHeader: header})
	if err != nil {
		return hostileSide{}, err
	}
	load := loadgen.Config{
		Mode:           loadgen.ModeProducer,
		Rate:           rate,
		Duration:       d,
		RequestTimeout: 30 * time.Second,
		Trace:          loadgen.TraceShape{SpansPerTrace: 10},
		Producer:       loadgen.ProducerConfig{Producers: 2, ServiceName: hostileGoodService},
		Routing:        &loadgen.Routing{Configs: []loadgen.TraceConfig{tc}},
		DrainTimeout:   10 * time.Second,
	}
	l, err := e.launch(pipeline+" "+c.Name, pipeline, spec, bs...)
	if err != nil {
		return hostileSide{}, err
	}
	l.lossCountsUnsent = true
	ctx, stop := context.WithCancel(e.ctx)
	var hs loadgen.BarrageStats
	var wg sync.WaitGroup
	wg.Go(func() { hs = barrage.Run(ctx) })
	st, _, err := l.load(e.ctx, load, 0)
	stop()
	wg.Wait()
	if err != nil {
		l.finish(float64(rate), st)
		return hostileSide{}, err
	}
	good := func() int64 { return bs[0].AttributeCounts("service.name")[hostileGoodService] }
	l.settle(func() bool { return good() >= st.SpansAccepted }, 5*time.Second, time.Minute)
	run, _ := l.finish(float64(rate), st)
	counts := bs[0].AttributeCounts("service.name")
	s := hostileSide{
		Pipeline: pipeline, GoodOffered: st.SpansOffered, GoodAnswered: st.SpansAccepted,
		GoodLost: st.SpansRefused + st.SpansNoAnswer + st.SpansRejected, GoodDelivered: counts[hostileGoodService], GoodAnswers: st.AnswerMs,
		Hostile: hs, HostileDelivered: counts[hostilePoisonService],
		BackendRefused: bs[0].BadRequests(), PeakRSSMiB: run.PeakRSSMiB,
	}
	run.Notes = append(run.Notes, fmt.Sprintf("good producer: offered %s, answered 2xx %s, lost at the door %s (HTTP %s), delivered %s, answered in %s; hostile: %s requests (HTTP %s), %s reached the backend; backend refused %s requests",
		commas(s.GoodOffered), commas(s.GoodAnswered), commas(s.GoodLost), statuses(st.StatusCounts), commas(s.GoodDelivered), s.GoodAnswers,
		commas(hs.Requests), statuses(hs.Statuses), commas(s.HostileDelivered), commas(s.BackendRefused)))
	e.res.Runs[len(e.res.Runs)-1] = run
	return s, nil
}

// hostileChecks judges one case: issue 11's goals for bombs and poison.
func (e *Env) hostileChecks(c hostileCase, tb, bl hostileSide) {
	r := e.res
	name := c.Name + ": "
	r.check(Correctness, name+"the hostile sender sent", tb.Hostile.Requests > 0 && bl.Hostile.Requests > 0,
		fmt.Sprintf("tracebound %s requests, stock %s", commas(tb.Hostile.Requests), commas(bl.Hostile.Requests)))
	r.check(Correctness, name+"tracebound answers the good producer 2xx for everything it offered",
		tb.GoodLost == 0 && tb.GoodAnswered == tb.GoodOffered,
		fmt.Sprintf("offered %s, answered 2xx %s, lost at the door %s (stock: %s lost of %s)",
			commas(tb.GoodOffered), commas(tb.GoodAnswered), commas(tb.GoodLost), commas(bl.GoodLost), commas(bl.GoodOffered)))
	r.check(Correctness, name+"tracebound loses none of the good producer's acknowledged spans", tb.acknowledgedLost() == 0,
		fmt.Sprintf("answered 2xx %s, delivered %s (stock: %s of %s lost, %s)",
			commas(tb.GoodAnswered), commas(tb.GoodDelivered), commas(bl.acknowledgedLost()), commas(bl.GoodAnswered), pctOf(bl.acknowledgedLost(), bl.GoodAnswered)))
	r.check(Correctness, name+"tracebound sends nothing on the backend cannot decode", tb.BackendRefused == 0 && tb.HostileDelivered == 0,
		fmt.Sprintf("backend refused %s requests, %s hostile spans reached it (stock: %s refused)",
			commas(tb.BackendRefused), commas(tb.HostileDelivered), commas(bl.BackendRefused)))
	ok2xx := tb.Hostile.Statuses[http.StatusOK]
	switch c.Name {
	case "bombs":
		bound := float64(hostileRequestLimitMiB + hostileRSSAllowanceMiB)
		r.check(Correctness, fmt.Sprintf("%stracebound's peak RSS within request_limit_mib + %d MiB", name, hostileRSSAllowanceMiB), tb.PeakRSSMiB <= bound,
			fmt.Sprintf("tracebound %.0f MiB (bound %.0f), stock %.0f MiB", tb.PeakRSSMiB, bound, bl.PeakRSSMiB))
		r.check(Correctness, name+"tracebound answers no bomb 2xx", ok2xx == 0, "answers: "+statuses(tb.Hostile.Statuses))
	case "poison":
		r.check(Correctness, name+"tracebound refuses every poison request", ok2xx == 0 || tb.Hostile.Rejected == ok2xx,
			fmt.Sprintf("answers: %s, spans rejected by partial success %s", statuses(tb.Hostile.Statuses), commas(tb.Hostile.Rejected)))
	}
	if bl.PeakRSSMiB > 0 {
		r.ratio("peak_rss_"+c.Name, tb.PeakRSSMiB/bl.PeakRSSMiB)
	}
}

func hostileRow(c hostileCase, s hostileSide) []string {
	who := "tracebound"
	if s.Pipeline == Baseline {
		who = "stock"
	}
	return []string{
		c.Title, who, commas(s.GoodOffered), commas(s.GoodAnswered), commas(s.GoodLost),
		fmt.Sprintf("%s (%s)", commas(s.GoodDelivered), pctOf(s.GoodDelivered, s.GoodOffered)),
		commas(s.acknowledgedLost()), answersText(s.GoodAnswers),
		fmt.Sprintf("%s (%s)", commas(s.Hostile.Requests), statuses(s.Hostile.Statuses)),
		commas(s.HostileDelivered), commas(s.BackendRefused), fmt.Sprintf("%.0f", s.PeakRSSMiB),
	}
}
