package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
)

// socketCheckInterval is how often the receiver checks that the file at
// its path is still its socket: one lstat(2), microseconds, so producers
// are told within a second. A constant: no deployment needs it slower,
// and a tighter loop would only cost.
const socketCheckInterval = time.Second

// socketWatch checks, every interval, that the file at the endpoint is
// still the socket the receiver created; when it is gone it recreates the
// socket, when another file took its place it leaves that file alone.
type socketWatch struct {
	r       *udsReceiver
	host    component.Host
	path    string
	opts    socketOptions
	guard   folderGuard
	current *capListener

	lost       bool   // the loss was logged and counted
	lastErr    string // the last error logged, not repeated
	stop, done chan struct{}
}

func (r *udsReceiver) startWatch(host component.Host, path string, opts socketOptions, guard folderGuard, cl *capListener) {
	interval := r.watchInterval
	if interval <= 0 {
		interval = socketCheckInterval
	}
	w := &socketWatch{
		r: r, host: host, path: path, opts: opts, guard: guard, current: cl,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	r.watch = w
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.check()
			}
		}
	}()
}

// stopWatch ends the watch; after it returns the socket is no longer
// recreated, and r.socket is final.
func (r *udsReceiver) stopWatch() {
	if r.watch == nil {
		return
	}
	close(r.watch.stop)
	<-r.watch.done
	r.watch = nil
}

// sameSocket tells whether fi is the socket file described by ours. The
// inode is pinned (Linux), so its number is not reused while we hold it;
// the modification time and the type guard elsewhere. The permission bits
// are left out: an operator may chmod the socket, it stays ours.
func sameSocket(fi, ours os.FileInfo) bool {
	return os.SameFile(fi, ours) && fi.ModTime().Equal(ours.ModTime()) && fi.Mode().Type() == ours.Mode().Type()
}

func (w *socketWatch) check() {
	logger := w.r.settings.Logger
	fi, err := os.Lstat(w.path)
	switch {
	case err == nil && sameSocket(fi, w.r.socket.info):
		if w.lost {
			logger.Info("The socket file is back at the endpoint", zap.String("endpoint", w.path))
			w.lost, w.lastErr = false, ""
		}
	case errors.Is(err, fs.ErrNotExist):
		if !w.lost {
			w.lost = true
			w.count("removed")
			logger.Error("The socket file was removed while the receiver was running: producers cannot connect until it is recreated; recreating it",
				zap.String("endpoint", w.path))
		}
		w.recreate()
	case err != nil:
		w.logOnce(fmt.Sprintf("endpoint %q: cannot check the socket file: %v", w.path, err))
	default:
		if !w.lost {
			w.lost = true
			w.count("replaced")
			fields := []zap.Field{
				zap.String("endpoint", w.path),
				zap.String("found", fileKind(fi)),
				zap.String("mode", octalMode(fi.Mode())),
			}
			if uid, _, ok := fileOwner(fi); ok {
				fields = append(fields, zap.Uint32("owner_uid", uid))
			}
			logger.Error("The socket file was replaced by another file while the receiver was running: producers now reach whatever is at the path, not this receiver; the file is left in place, and the socket is recreated once the path is free",
				fields...)
		}
	}
}

func (w *socketWatch) count(cause string) {
	w.r.telemetry.OtlpudsSocketsLost.Add(context.Background(), 1,
		metric.WithAttributeSet(attribute.NewSet(attribute.String("cause", cause))))
}

// logOnce logs an error unless it is the one logged last.
func (w *socketWatch) logOnce(msg string) {
	if msg == w.lastErr {
		return
	}
	w.lastErr = msg
	w.r.settings.Logger.Error(msg)
}

// recreate binds a new socket at the free path, with the same folder
// checks, mode and group as at start, serves on it and retires the old
// listener (its file is gone; connections it accepted go on). On failure
// it is tried again at the next check.
func (w *socketWatch) recreate() {
	warnings, err := w.guard.prepare(w.path, w.opts)
	if err != nil {
		w.logOnce("Cannot recreate the socket (tried again every check): " + err.Error())
		return
	}
	ln, sock, err := listenSocket(w.path, w.opts)
	if err != nil {
		w.logOnce("Cannot recreate the socket (tried again every check): " + err.Error())
		return
	}
	for _, msg := range warnings {
		w.r.settings.Logger.Warn(msg)
	}
	old, oldLn := w.r.socket, w.current
	w.r.socket = sock
	w.current = w.r.serve(w.host, ln)
	oldLn.retire()
	_ = old.pin.Close()
	w.lost, w.lastErr = false, ""
	w.r.telemetry.OtlpudsSocketsRecreated.Add(context.Background(), 1)
	w.r.settings.Logger.Info("Recreated the socket file; serving on it again",
		zap.String("endpoint", w.path), zap.String("socket_mode", fmt.Sprintf("%#o", w.opts.mode)))
}

func fileKind(fi os.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "regular file"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDir != 0:
		return "folder"
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	default:
		return t.String()
	}
}
