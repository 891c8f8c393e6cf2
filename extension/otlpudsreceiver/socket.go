package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

const (
	// tempDirPrefix names the private folder the socket is bound in before
	// it is moved into place.
	tempDirPrefix = ".otlpuds-"
	// staleProbeTimeout bounds the dial that tells a live socket from a
	// stale one.
	staleProbeTimeout = time.Second
)

// socketFile is the socket file this receiver created, remembered so that
// shutdown removes it only while it is still ours. The inode is pinned
// until then: once the listener is closed (shutdown closes it first, then
// waits for requests in flight), another process may replace the file, and
// without the pin the new file could get the same inode number.
type socketFile struct {
	path string
	info os.FileInfo
	pin  io.Closer
}

// socketOptions are the resolved access settings of the socket file.
type socketOptions struct {
	mode uint32
	gid  int // -1: keep the collector's group
}

// listenStep names the points of listenSocket at which testHookListen runs.
type listenStep int

const (
	// stepBound: the socket was just bound in its private folder, before its
	// mode and group are set.
	stepBound listenStep = iota
	// stepReady: mode and group are set, the socket is about to be linked
	// into place.
	stepReady
)

// testHookListen, when a test sets it, runs at each listenStep with the
// socket's temporary path and its final path. Nil in production.
var testHookListen func(step listenStep, tmpSock, path string)

// listenSocket creates the socket at path with the configured mode and
// group. The socket is bound inside a fresh 0700 folder next to path, given
// its mode and group there, then hard-linked into place, so that at no
// moment can anyone reach it with more rights than configured. Linking
// (rather than renaming) never replaces a file that appeared meanwhile.
func listenSocket(path string, opts socketOptions) (*net.UnixListener, *socketFile, error) {
	// The folder exists: folderGuard.prepare checked and created it.
	tmpDir, err := makeTempDir(filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint %q: %w", path, err)
	}
	defer os.RemoveAll(tmpDir)

	tmpSock := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("endpoint %q: %w", path, err)
	}
	// The listener's own name is the temporary path; removal of the real
	// path is ours to do.
	ln.SetUnlinkOnClose(false)
	if testHookListen != nil {
		testHookListen(stepBound, tmpSock, path)
	}
	fail := func(err error) (*net.UnixListener, *socketFile, error) {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("endpoint %q: %w", path, err)
	}

	if err = os.Chmod(tmpSock, fs.FileMode(opts.mode)); err != nil {
		return fail(fmt.Errorf("setting socket_mode: %w", err))
	}
	if opts.gid >= 0 {
		if err = os.Lchown(tmpSock, -1, opts.gid); err != nil {
			return fail(fmt.Errorf("setting socket_group (gid %d): %w", opts.gid, err))
		}
	}
	// Remember the socket's identity before it becomes reachable at path:
	// whatever is at path later is only ours if it is this same inode.
	info, pin, err := pinFile(tmpSock)
	if err != nil {
		return fail(err)
	}
	if testHookListen != nil {
		testHookListen(stepReady, tmpSock, path)
	}
	if err = os.Link(tmpSock, path); err != nil {
		_ = pin.Close()
		if errors.Is(err, fs.ErrExist) {
			return fail(errors.New("a file appeared at the path while the socket was being created"))
		}
		return fail(fmt.Errorf("moving socket into place: %w", err))
	}
	return ln, &socketFile{path: path, info: info, pin: pin}, nil
}

// makeTempDir creates a private folder (0700) in dir with a short random
// name, keeping the bind path within the sockaddr_un limit.
func makeTempDir(dir string) (string, error) {
	var b [4]byte
	for range 10 {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		p := filepath.Join(dir, tempDirPrefix+hex.EncodeToString(b[:]))
		err := os.Mkdir(p, 0o700)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("creating private bind folder: %w", err)
		}
	}
	return "", errors.New("creating private bind folder: too many name collisions")
}

// remove deletes the socket file if it is still the one this receiver
// created; a file another process put there since is left alone.
func (s *socketFile) remove() error {
	if s == nil {
		return nil
	}
	defer s.pin.Close()
	fi, err := os.Lstat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", s.path, err)
	}
	if !sameFileAndTime(fi, s.info) {
		return nil
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("endpoint %q: removing socket: %w", s.path, err)
	}
	return nil
}
