package monitor

import (
	"os"
	"testing"
	"time"
)

func TestReadAndSampleSelf(t *testing.T) {
	u, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSSBytes <= 0 || u.HWMBytes < u.RSSBytes/2 {
		t.Errorf("usage %+v", u)
	}
	m := Start(os.Getpid(), 50*time.Millisecond)
	// Burn some CPU so the monitor has something to see.
	deadline := time.Now().Add(300 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	s := m.Stop()
	if len(s.Samples) < 3 {
		t.Fatalf("%d samples", len(s.Samples))
	}
	if s.CPUSeconds <= 0 || s.PeakRSSBytes <= 0 {
		t.Errorf("summary %+v (%d)", s, x)
	}
	if _, err := Read(-1); err == nil {
		t.Error("reading a missing process must fail")
	}
}
