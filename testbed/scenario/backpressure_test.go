package scenario

import (
	"strings"
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
// them, a histogram shows its count and mean, the rest their values, and
// a binary without them shows "-".
func TestWaitsText(t *testing.T) {
	if got := waitsText(otlpudsWaits(collector.Metrics{{Name: mReceiverAccepted, Value: 1}})); got != "-" {
		t.Errorf("no waits: %q", got)
	}
	m := collector.Metrics{
		{Name: "otelcol_receiver_otlpuds_requests_waited_total", Value: 12},
		{Name: "otelcol_receiver_otlpuds_wait_duration_seconds_bucket", Labels: map[string]string{"le": "1"}, Value: 12},
		{Name: "otelcol_receiver_otlpuds_wait_duration_seconds_sum", Value: 6},
		{Name: "otelcol_receiver_otlpuds_wait_duration_seconds_count", Value: 12},
		{Name: "otelcol_receiver_otlpuds_refused_after_wait_total", Value: 0},
		{Name: "otelcol_receiver_otlpuds_requests_waiting", Value: 0},
	}
	w := otlpudsWaits(m)
	if len(w) != 5 {
		t.Errorf("waits %v: buckets must be left out", w)
	}
	got := waitsText(w)
	for _, want := range []string{"requests_waited 12", "wait_duration_seconds: 12, mean 0.5 s", "refused_after_wait 0", "requests_waiting 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("waits %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "_count") || strings.Contains(got, "_sum") {
		t.Errorf("histogram parts shown: %q", got)
	}
	if !waited(w) || waited(map[string]float64{"refused_after_wait": 3, "requests_waited": 0}) {
		t.Error("waited misreads the metrics")
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
