//go:build !linux

package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"errors"
	"net"
)

// peerCredSupported tells whether this platform reports peer credentials.
const peerCredSupported = false

func readPeerCred(net.Conn) *peerCred {
	return &peerCred{err: errors.New("peer credentials are only supported on linux")}
}
