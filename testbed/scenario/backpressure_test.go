package scenario

import (
	"testing"
	"time"

	"github.com/tracebound/tracebound/testbed/collector"
)

// The burst case averages below the destination's capacity with bursts
// above it, and leaves the destination time to take a burst's excess
// before the next; the overload case stays above capacity throughout.
func TestBackpressureCases(t *testing.T) {
	for _, quick := range []bool{false, true} {
		e := &Env{Options: Options{Quick: quick}}
		const capacity = 10_000
		cases := bpCases(e, capacity)
		if len(cases) != 2 || !cases[0].Bursts || cases[1].Bursts {
			t.Fatalf("cases %+v", cases)
		}
		b := cases[0]
		if b.MeanRate >= capacity {
			t.Errorf("quick=%v: bursts average %.0f spans/s, want below %d", quick, b.MeanRate, capacity)
		}
		var d time.Duration
		for i, p := range b.Phases {
			d += p.Duration
			if i%2 == 0 {
				next := b.Phases[i+1]
				excess := float64(p.Rate-capacity) * p.Duration.Seconds()
				drain := float64(capacity-next.Rate) * next.Duration.Seconds()
				if p.Rate <= capacity || drain < 1.2*excess {
					t.Errorf("quick=%v: burst %d spans/s for %s, then %d for %s: the excess %.0f must drain with room (%.0f)",
						quick, p.Rate, p.Duration, next.Rate, next.Duration, excess, drain)
				}
			}
		}
		if d != b.Duration {
			t.Errorf("phases last %s, case %s", d, b.Duration)
		}
		if o := cases[1]; o.MeanRate <= capacity || o.Phases[0].Rate <= capacity {
			t.Errorf("overload at %.0f spans/s", o.MeanRate)
		}
	}
	e := &Env{Options: Options{Duration: 20 * time.Second}}
	if c := bpCases(e, 1000); c[0].Duration != 24*time.Second || c[1].Duration != 20*time.Second {
		t.Errorf("-duration 20s: bursts %s (want two 12 s cycles), overload %s", c[0].Duration, c[1].Duration)
	}
}

func TestCountedLoss(t *testing.T) {
	tb := collector.Metrics{
		{Name: mDestSent + "_total", Value: 100},
		{Name: mDestLost + "_total", Labels: map[string]string{"reason": "queue_full"}, Value: 7},
		{Name: mDestLost + "_total", Labels: map[string]string{"reason": "send_failed"}, Value: 3},
		{Name: mDestDropped + "_total", Value: 2},
		// The inner exporters count the same spans again: not added.
		{Name: mExporterSendFailed + "_total", Value: 3},
		{Name: mExporterEnqFailed + "_total", Value: 7},
	}
	if got := countedLoss(tb); got != 12 {
		t.Errorf("tracebound: %v, want 12", got)
	}
	stock := collector.Metrics{{Name: mExporterSent + "_total", Value: 5}, {Name: mExporterSendFailed + "_total", Value: 3}, {Name: mExporterEnqFailed + "_total", Value: 4}}
	if got := countedLoss(stock); got != 7 {
		t.Errorf("stock: %v, want 7", got)
	}
}

// The wait metrics are read by a rule, not by name: whatever otlpuds calls
// them, they are summed over their labels, a histogram shows its count and
// mean, the rest their values, and a binary without them shows "-".
func TestWaitsText(t *testing.T) {
	if got := waitsText(otlpudsWaits(collector.Metrics{{Name: mReceiverAccepted, Value: 1}, {Name: "otelcol_otlpuds_peers_refused_total", Value: 2}})); got != "-" {
		t.Errorf("no waits: %q", got)
	}
	pipeline, room := map[string]string{"wait": "pipeline"}, map[string]string{"wait": "room"}
	m := collector.Metrics{
		{Name: "otelcol_otlpuds_admission_waited_total", Labels: pipeline, Value: 10},
		{Name: "otelcol_otlpuds_admission_waited_total", Labels: room, Value: 2},
		{Name: "otelcol_otlpuds_admission_wait_time_seconds_bucket", Labels: map[string]string{"le": "1", "wait": "pipeline"}, Value: 10},
		{Name: "otelcol_otlpuds_admission_wait_time_seconds_sum", Labels: pipeline, Value: 5},
		{Name: "otelcol_otlpuds_admission_wait_time_seconds_count", Labels: pipeline, Value: 10},
		{Name: "otelcol_otlpuds_admission_wait_time_seconds_sum", Labels: room, Value: 1},
		{Name: "otelcol_otlpuds_admission_wait_time_seconds_count", Labels: room, Value: 2},
		{Name: "otelcol_otlpuds_admission_refused_total", Labels: map[string]string{"reason": "max_wait"}, Value: 0},
		{Name: "otelcol_otlpuds_admission_waiting", Labels: pipeline, Value: 0},
		{Name: "otelcol_otlpuds_admission_in_flight_bytes", Value: 0},
		{Name: "otelcol_otlpuds_peers_refused_total", Value: 3},
	}
	w := otlpudsWaits(m)
	if len(w) != 9 {
		t.Errorf("waits %v: buckets and other otlpuds metrics must be left out", w)
	}
	got := waitsText(w)
	want := "in_flight_bytes 0; refused 0; wait_time_seconds: 12, mean 0.5 s; waited 12; waiting 0"
	if got != want {
		t.Errorf("waits %q, want %q", got, want)
	}
	// Without a unit in the name (as otlpuds' wait_time reaches
	// Prometheus), a time is in seconds.
	bare := otlpudsWaits(collector.Metrics{
		{Name: "otelcol_otlpuds_admission_wait_time_sum", Labels: pipeline, Value: 9},
		{Name: "otelcol_otlpuds_admission_wait_time_count", Labels: pipeline, Value: 2},
	})
	if got := waitsText(bare); got != "wait_time: 2, mean 4.5 s" {
		t.Errorf("bare histogram: %q", got)
	}
	if !waited(bare) {
		t.Error("two waits recorded")
	}
	if !waited(w) {
		t.Error("12 requests waited")
	}
	if waited(map[string]float64{"otelcol_otlpuds_admission_refused_total": 3, "otelcol_otlpuds_admission_waited_total": 0}) {
		t.Error("nothing waited")
	}
}

func TestMillis(t *testing.T) {
	for ms, want := range map[float64]string{4.47: "4.5", 73.03: "73", 5031.2: "5,031"} {
		if got := millis(ms); got != want {
			t.Errorf("millis(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestCommas(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q", n, got)
		}
	}
}

func TestDeliveredMargin(t *testing.T) {
	e := &Env{Options: Options{Quick: true}}
	c := bpCases(e, 6000)
	// One burst of a small load: 8 requests of 512.
	if got := deliveredMargin(c[0], 29_696); got != 4096 {
		t.Errorf("quick bursts: %d", got)
	}
	// A large load: 5% of it.
	if got := deliveredMargin(c[1], 299_520); got != 14_976 {
		t.Errorf("full overload: %d", got)
	}
	full := bpCases(&Env{}, 10_000)
	if full[0].Fills != 2 || deliveredMargin(full[0], 100_000) != 8192 {
		t.Errorf("full bursts: %d fills, margin %d", full[0].Fills, deliveredMargin(full[0], 100_000))
	}
}
