package collector

import "syscall"

// procAttr makes the kernel kill the collector when the testbed that
// started it dies (a test timeout, SIGKILL, a crash), so that no collector
// is left holding its socket and ports. Go does not end the thread that
// forked it while the testbed runs (the testbed locks no goroutine to a
// thread), so the signal comes only with the testbed's end.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
