package lifecycleidentityprocessor

import "time"

// cpuClock adds up the CPU time (user and system, all threads: the garbage
// collector's too) the process spends while a benchmark's timer runs. On a
// machine shared with other work, wall-clock time also counts the time the
// benchmark waits for a core; CPU time does not. Where processCPU cannot
// tell (not unix), it adds up nothing.
type cpuClock struct {
	started, total time.Duration
}

func (c *cpuClock) start() { c.started = processCPU() }
func (c *cpuClock) stop()  { c.total += processCPU() - c.started }
