package scenario

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tracebound/tracebound/testbed/loadgen"
)

// TestRunLoss: loss is over the spans sent; the spans never sent join the
// divisor only when the scenario counts them (restart).
func TestRunLoss(t *testing.T) {
	for _, c := range []struct {
		delivered, sent, unsent int64
		countUnsent             bool
		want                    float64
	}{
		{1000, 1000, 120, false, 0},  // max-rate overload: all sent delivered
		{900, 1000, 0, false, 0.1},   // a real loss
		{1000, 1000, 250, true, 0.2}, // restart: 250 of 1250 planned never arrived
		{800, 1000, 1000, true, 0.6}, // restart: lost in memory and never sent
		{3000, 1000, 0, false, 0},    // copies: never negative
		{0, 0, 500, false, 0},        // nothing sent
		{0, 0, 500, true, 1},         // nothing sent of 500 due, counted
	} {
		got := RunLoss(c.delivered, c.sent, c.unsent, c.countUnsent)
		if got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("RunLoss(delivered %d, sent %d, unsent %d, %v) = %f, want %f", c.delivered, c.sent, c.unsent, c.countUnsent, got, c.want)
		}
	}
}

// TestRunAccount: the loss finish records leaves the spans the generator
// never sent out (max-rate: sent equals delivered, so no loss) unless the
// run counts them (restart), and the JSON the summary is rebuilt from holds
// the figures it is derived from.
func TestRunAccount(t *testing.T) {
	st := loadgen.Stats{SpansSent: 88_000, SpansAccepted: 88_000, SpansUnoffered: 12_000, OfferTime: 10 * time.Second}
	for _, c := range []struct {
		name        string
		countUnsent bool
		want        float64
	}{
		{"max-rate", false, 0},
		{"restart", true, 0.12},
	} {
		var run Run
		run.account(st, 88_000, c.countUnsent)
		if run.Loss < c.want-1e-9 || run.Loss > c.want+1e-9 {
			t.Errorf("%s: loss %f, want %f", c.name, run.Loss, c.want)
		}
		if run.UnofferedSpans != 12_000 || run.SentRate != 8800 || run.DeliveredRate != 8800 {
			t.Errorf("%s: unsent %d, sent %.0f/s, delivered %.0f/s; want 12000, 8800, 8800", c.name, run.UnofferedSpans, run.SentRate, run.DeliveredRate)
		}
		data, err := json.Marshal(run)
		if err != nil {
			t.Fatal(err)
		}
		var back Run
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if got := RunLoss(back.DeliveredSpans, back.SentSpans, back.UnofferedSpans, back.LossCountsUnsent); got != run.Loss || back.Loss != run.Loss {
			t.Errorf("%s: from the JSON, loss %f and derived %f, want %f", c.name, back.Loss, got, run.Loss)
		}
	}
}
