// Package monitor samples the CPU use (as % of one core) and the resident
// memory of a process from /proc/<pid>/stat and /proc/<pid>/status.
package monitor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Usage is one reading of a process.
type Usage struct {
	// CPUSeconds is user plus system CPU time since the process started.
	CPUSeconds float64
	// RSSBytes is the resident set size (VmRSS); HWMBytes its peak (VmHWM).
	RSSBytes int64
	HWMBytes int64
}

// Read reads the usage of pid.
func Read(pid int) (Usage, error) {
	var u Usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return u, errors.New("monitor: malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After ')': state is field 3 of the man page, utime 14, stime 15.
	if len(f) < 13 {
		return u, errors.New("monitor: short stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	u.CPUSeconds = float64(ut+st) / clockTicks

	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			u.RSSBytes = parseKB(line)
		case strings.HasPrefix(line, "VmHWM:"):
			u.HWMBytes = parseKB(line)
		}
	}
	return u, sc.Err()
}

func parseKB(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v * 1024
}

// Sample is one point of a Monitor's series.
type Sample struct {
	// At is the time since the monitor started.
	At time.Duration `json:"at_ns"`
	// CPUPercent is the CPU used since the previous sample, in % of one core.
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   int64   `json:"rss_bytes"`
}

// Monitor samples one process (which may be replaced, see SetPID) every
// interval until Stop.
type Monitor struct {
	interval time.Duration
	start    time.Time
	stop     chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	pid      int
	last     Usage
	lastAt   time.Time
	cpuTotal float64 // CPU seconds of processes already replaced
	peakRSS  int64
	samples  []Sample
}

// Start begins sampling pid every interval (1s when interval <= 0).
func Start(pid int, interval time.Duration) *Monitor {
	if interval <= 0 {
		interval = time.Second
	}
	m := &Monitor{interval: interval, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	m.SetPID(pid)
	go m.loop()
	return m
}

// SetPID follows a new process (after a restart); the CPU of the old one up
// to its last sample stays counted.
func (m *Monitor) SetPID(pid int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cpuTotal += m.last.CPUSeconds
	m.pid = pid
	m.last, _ = Read(pid)
	m.lastAt = time.Now()
	m.peakRSS = max(m.peakRSS, m.last.RSSBytes)
	m.cpuTotal -= m.last.CPUSeconds // counted from now on
}

func (m *Monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			m.sample()
			return
		case <-t.C:
			m.sample()
		}
	}
}

func (m *Monitor) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := Read(m.pid)
	now := time.Now()
	if err != nil {
		// The process is gone (SetPID may follow): it uses nothing.
		m.samples = append(m.samples, Sample{At: now.Sub(m.start)})
		return
	}
	s := Sample{At: now.Sub(m.start), RSSBytes: u.RSSBytes}
	if dt := now.Sub(m.lastAt).Seconds(); dt > 0 {
		s.CPUPercent = 100 * (u.CPUSeconds - m.last.CPUSeconds) / dt
	}
	m.last, m.lastAt = u, now
	m.peakRSS = max(m.peakRSS, u.RSSBytes, u.HWMBytes)
	m.samples = append(m.samples, s)
}

// Summary is what a Monitor saw.
type Summary struct {
	Samples []Sample `json:"samples"`
	// CPUSeconds is the CPU used while monitored.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is the mean CPU over the monitored time, % of one core.
	CPUPercent float64 `json:"cpu_percent"`
	// PeakRSSBytes is the highest RSS seen (VmHWM included).
	PeakRSSBytes int64         `json:"peak_rss_bytes"`
	Elapsed      time.Duration `json:"elapsed_ns"`
}

// Stop takes a last sample, stops, and summarises.
func (m *Monitor) Stop() Summary {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{
		Samples:      m.samples,
		CPUSeconds:   m.cpuTotal + m.last.CPUSeconds,
		PeakRSSBytes: m.peakRSS,
		Elapsed:      time.Since(m.start),
	}
	if sec := s.Elapsed.Seconds(); sec > 0 {
		s.CPUPercent = 100 * s.CPUSeconds / sec
	}
	return s
}
