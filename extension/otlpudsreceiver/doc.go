// Package otlpudsreceiver receives OTLP/HTTP traces, metrics and logs on a
// Unix domain socket. Beyond the stock otlp receiver on `transport: unix` it
// takes over stale sockets left by a crash, creates the socket with a fixed
// mode and group, checks the peer's credentials (SO_PEERCRED), keeps the
// routing header as client metadata and removes the socket on shutdown.
//
//go:generate sh -c "cd ../../internal/tools && GOWORK=off go tool mdatagen ../../extension/otlpudsreceiver/metadata.yaml"
package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"
