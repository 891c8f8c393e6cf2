package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// errReplacedMeanwhile reports that the stale socket was replaced by
// another file between the probe and its removal.
var errReplacedMeanwhile = errors.New("the stale socket was replaced by another file while it was being taken over; left in place")

// takeOverStale clears the way for a new socket at path. A missing path is
// fine. A socket that nobody answers on (connection refused) is removed and
// reported with removed=true. A live socket, or anything that is not a
// socket, is an error naming the path; nothing is deleted then.
func takeOverStale(path string) (removed bool, err error) {
	fi, pin, err := pinFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("endpoint %q: %w", path, err)
	}
	// Held until the end: the probed inode keeps its number.
	defer pin.Close()
	if fi.Mode()&fs.ModeSocket == 0 {
		return false, fmt.Errorf("endpoint %q exists and is a %s, not a socket; refusing to replace it", path, fileKind(fi))
	}
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		_ = conn.Close()
		return false, fmt.Errorf("endpoint %q: another process is listening on this socket", path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed meanwhile
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return false, fmt.Errorf("endpoint %q: cannot tell whether the socket is in use, leaving it: %w", path, err)
	}
	removed, err = removeIfSame(path, fi)
	if err != nil {
		return false, fmt.Errorf("endpoint %q: removing stale socket: %w", path, err)
	}
	return removed, nil
}

// sameFileAndTime tells whether a and b describe the same file. Once a file
// is removed its inode number is free for the next file created; pinFile
// prevents that on Linux, and elsewhere the modification time (set when the
// socket was bound, kept by rename) and the type must match too.
func sameFileAndTime(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}

// removeIfSame deletes the file at path only if it is still the one
// described by probed. A plain "stat, then remove" would delete whatever
// another process (a second collector starting on the same path) put there
// in between, such as its live socket. So the file is first moved aside
// atomically into a private folder, checked there, and linked back into
// place if it is not the probed one.
func removeIfSame(path string, probed os.FileInfo) (removed bool, err error) {
	tmpDir, err := makeTempDir(filepath.Dir(path))
	if err != nil {
		return false, err
	}
	aside := filepath.Join(tmpDir, "s")
	if err = os.Rename(path, aside); err != nil {
		_ = os.Remove(tmpDir)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // removed meanwhile: the way is clear
		}
		return false, err
	}
	fi, err := os.Lstat(aside)
	if err == nil && sameFileAndTime(fi, probed) {
		return true, os.RemoveAll(tmpDir)
	}
	// Someone else's file: put it back. A link never replaces a file that
	// appeared at path meanwhile; folders cannot be linked, so rename those.
	if err = os.Link(aside, path); err != nil && fi != nil && fi.IsDir() {
		err = os.Rename(aside, path)
	}
	if err != nil {
		// Keep it where it is rather than lose it.
		return false, fmt.Errorf("%w, and it could not be put back (it is at %q): %w", errReplacedMeanwhile, aside, err)
	}
	_ = os.RemoveAll(tmpDir)
	return false, errReplacedMeanwhile
}
