//go:build linux

package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pinFile describes the file at path (not following a symlink) and holds a
// reference to it (an O_PATH descriptor) until the closer is called, so
// that its inode number cannot be given to another file meanwhile and
// os.SameFile stays a reliable identity check.
func pinFile(path string) (os.FileInfo, io.Closer, error) {
	f, err := os.OpenFile(path, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return fi, f, nil
}
