package scenario

import (
	"errors"
	"testing"
)

func TestBothSidesAlternatesOrderAndKeepsEachSideItsOwn(t *testing.T) {
	for i, wantFirst := range []string{Tracebound, Baseline, Tracebound} {
		var ran []string
		tb, bl, err := bothSides(i, func(p string) (string, error) {
			ran = append(ran, p)
			return "result of " + p, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ran[0] != wantFirst || len(ran) != 2 {
			t.Errorf("case %d ran %v, want %s first and both once", i, ran, wantFirst)
		}
		if tb != "result of "+Tracebound || bl != "result of "+Baseline {
			t.Errorf("case %d: tracebound side %q, baseline side %q", i, tb, bl)
		}
	}
}

func TestBothSidesStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	runs := 0
	_, _, err := bothSides(0, func(string) (int, error) { runs++; return 0, boom })
	if !errors.Is(err, boom) || runs != 1 {
		t.Fatalf("err %v after %d runs, want boom after 1", err, runs)
	}
}
