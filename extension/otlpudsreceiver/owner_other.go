//go:build !unix

package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import "io/fs"

// fileOwner reports no owner where files have no unix owner: the folder
// checks then judge modes only.
func fileOwner(fs.FileInfo) (uid, gid uint32, ok bool) { return 0, 0, false }
