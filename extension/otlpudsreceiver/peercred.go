package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"net"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute keys stamped on each resource when peer_attributes is on.
const (
	attrPeerPID = "unix.peer.pid"
	attrPeerUID = "unix.peer.uid"
	attrPeerGID = "unix.peer.gid"
)

// peerCred is the identity of the process on the other end of a
// connection, as the kernel reported it when the connection was accepted.
type peerCred struct {
	pid int32
	uid uint32
	gid uint32
	err error // set when the kernel could not tell
}

type peerCredKey struct{}

// connContext stores the peer's credentials in the connection's context,
// once per connection; every request on it inherits them.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*capConn); ok && cc.cred != nil {
		return context.WithValue(ctx, peerCredKey{}, cc.cred) // read at accept
	}
	return context.WithValue(ctx, peerCredKey{}, readPeerCred(c))
}

func peerCredFromContext(ctx context.Context) (*peerCred, bool) {
	pc, ok := ctx.Value(peerCredKey{}).(*peerCred)
	return pc, ok
}

// peerPolicy decides which peers may send.
type peerPolicy struct {
	uids []uint32
	gids []uint32
}

func (p peerPolicy) restricts() bool { return len(p.uids) > 0 || len(p.gids) > 0 }

// allows reports whether a peer may send: it passes if either list names
// it. With both lists empty everyone passes.
func (p peerPolicy) allows(pc *peerCred) bool {
	if !p.restricts() {
		return true
	}
	if pc == nil || pc.err != nil {
		return false
	}
	return slices.Contains(p.uids, pc.uid) || slices.Contains(p.gids, pc.gid)
}

// stamp writes the peer attributes on a resource.
func (pc *peerCred) stamp(attrs pcommon.Map) {
	attrs.PutInt(attrPeerPID, int64(pc.pid))
	attrs.PutInt(attrPeerUID, int64(pc.uid))
	attrs.PutInt(attrPeerGID, int64(pc.gid))
}
