//go:build !linux

package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"io"
	"os"
)

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// pinFile describes the file at path (not following a symlink). Without
// O_PATH nothing holds the inode; sameFileAndTime's time check is then the
// guard against a reused inode number.
func pinFile(path string) (os.FileInfo, io.Closer, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	return fi, nopCloser{}, nil
}
