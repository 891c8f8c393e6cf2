//go:build linux

package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerCredSupported tells whether this platform reports peer credentials.
const peerCredSupported = true

// readPeerCred asks the kernel for the peer's pid, uid and gid
// (SO_PEERCRED, taken when the peer connected).
func readPeerCred(c net.Conn) *peerCred {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return &peerCred{err: errors.New("connection has no file descriptor")}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return &peerCred{err: err}
	}
	var (
		ucred  *unix.Ucred
		optErr error
	)
	if err = raw.Control(func(fd uintptr) {
		ucred, optErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return &peerCred{err: err}
	}
	if optErr != nil {
		return &peerCred{err: optErr}
	}
	return &peerCred{pid: ucred.Pid, uid: ucred.Uid, gid: ucred.Gid}
}
