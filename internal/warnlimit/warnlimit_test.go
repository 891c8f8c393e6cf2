package warnlimit

import (
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestOneWarningPerIntervalPerKind(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(time.Minute, c.now)

	// The first event of a kind warns at once, with its own count.
	if warn, since := l.Note("invalid", 3); !warn || since != 3 {
		t.Fatalf("first note: warn=%v since=%d, want true 3", warn, since)
	}
	// Within the minute: silent, but counted.
	for _, step := range []time.Duration{time.Second, 30 * time.Second, 59 * time.Second} {
		c.t = time.Unix(1000, 0).Add(step)
		if warn, _ := l.Note("invalid", 2); warn {
			t.Fatalf("warned again %s after the first warning", step)
		}
	}
	// Another kind has its own budget.
	if warn, since := l.Note("missing", 1); !warn || since != 1 {
		t.Fatalf("other kind: warn=%v since=%d, want true 1", warn, since)
	}
	// A minute after the first warning: warn, with everything since it.
	c.t = time.Unix(1060, 0)
	if warn, since := l.Note("invalid", 5); !warn || since != 2+2+2+5 {
		t.Fatalf("after a minute: warn=%v since=%d, want true 11", warn, since)
	}
	// The count restarted.
	c.t = time.Unix(1200, 0)
	if warn, since := l.Note("invalid", 1); !warn || since != 1 {
		t.Fatalf("after the restart: warn=%v since=%d, want true 1", warn, since)
	}
}

func TestConcurrentNotesLoseNoCount(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	l := New(time.Minute, c.now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	warned, total := 0, int64(0)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if warn, since := l.Note("k", 1); warn {
					mu.Lock()
					warned++
					total += since
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	c.t = c.t.Add(time.Minute)
	_, rest := l.Note("k", 0)
	if warned != 1 || total+rest != 8000 {
		t.Fatalf("warned %d times, counted %d+%d, want 1 warning and 8000 events", warned, total, rest)
	}
}
