package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"errors"
	"fmt"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/confmap"

	"github.com/tracebound/tracebound/internal/confmoved"
)

const (
	// defaultSocketMode is the permission of the socket file: owner and group
	// may connect, nobody else.
	defaultSocketMode = "0660"
	// defaultRetryAfter is the delay sent in Retry-After when the pipeline
	// refuses data.
	defaultRetryAfter = time.Second
	// defaultMaxRequestBodySize mirrors confighttp's own default (20 MiB), so
	// the effective value is visible in the default config.
	defaultMaxRequestBodySize = 20 * 1024 * 1024

	// maxSocketPathLen is the longest path Linux accepts in sockaddr_un
	// (108 bytes, no terminating NUL needed, keep one for portability).
	maxSocketPathLen = 107
	// tempBindOverhead is how much longer than the parent folder the
	// temporary bind path is: "/" + tempDirPrefix + 8 hex chars + "/s".
	tempBindOverhead = 1 + len(tempDirPrefix) + 8 + 2
)

// Config is the configuration of the otlpuds receiver.
type Config struct {
	// ServerConfig holds the confighttp server settings, squashed into the
	// receiver's own keys: `endpoint` is the socket path (required, no
	// default; a relative path is resolved against the collector's working
	// folder), `transport` is always "unix" (default "unix"; any other value
	// is an error), `max_request_body_size` (default 20 MiB),
	// `include_metadata` (default true, unlike confighttp's false: every
	// request header reaches the pipeline as client metadata, so the routing
	// header is named in one place only, trace_routing's `header`; false
	// keeps no header, and trace_routing then finds no routing header and
	// warns once), `compression_algorithms` (default all confighttp offers),
	// `read_timeout` (default 0, none), `read_header_timeout` (default 10s,
	// not confighttp's 1m: see defaultReadHeaderTimeout), `write_timeout`
	// (default 30s), `keepalive::idle_timeout` (default 1m),
	// `auth`, `middlewares`, `response_headers`, `cors` (default none each).
	// `dialer` is ignored (the receiver dials nothing). `tls` is refused: the
	// kernel already authenticates the peer of a Unix socket.
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// SocketMode is the permission of the socket file, an octal string.
	// Default "0660". Bits beyond 0777 are refused.
	SocketMode string `mapstructure:"socket_mode"`

	// SocketGroup is the group of the socket file, a name or a numeric gid.
	// Default "" (the collector's primary group).
	SocketGroup string `mapstructure:"socket_group"`

	// AllowedUIDs lists the peer uids (SO_PEERCRED) allowed to send.
	// Default empty: every uid that can open the socket.
	AllowedUIDs []uint32 `mapstructure:"allowed_uids"`

	// AllowedGIDs lists the peer primary gids (SO_PEERCRED) allowed to send.
	// Default empty: every gid that can open the socket. When both lists are
	// set, a peer passes if either list names it.
	AllowedGIDs []uint32 `mapstructure:"allowed_gids"`

	// PeerAttributes stamps unix.peer.pid, unix.peer.uid and unix.peer.gid
	// (int attributes) on every resource received. Default false.
	PeerAttributes bool `mapstructure:"peer_attributes"`

	// StrictFolderModes refuses to start when a folder on the way to the
	// socket can be written by users other than its owner and root, or
	// belongs to another user (OpenSSH's StrictModes; see strictmodes.go).
	// Default true; false starts anyway with a warning.
	StrictFolderModes bool `mapstructure:"strict_folder_modes"`

	// MaxConnections caps the connections open at once; at the cap, the
	// longest idle keep-alive connection is closed for a new one, or the
	// new one is closed at once. Default 1024; 0: no cap.
	MaxConnections int `mapstructure:"max_connections"`

	// ReadBodyTimeout bounds how long a request's body may take to arrive
	// once its headers have, not counting the time it waits for room in
	// flight (admission); past it the request is answered 408 and its
	// connection closed. Default 10s; 0: no timeout (read_timeout, when
	// set, still bounds the whole request).
	ReadBodyTimeout time.Duration `mapstructure:"read_body_timeout"`

	// MaxConnectionsPerUID caps the connections open at once from one peer
	// uid (SO_PEERCRED), so that one local user cannot take every slot.
	// Default 256; 0: no cap. Linux only (ignored elsewhere).
	MaxConnectionsPerUID int `mapstructure:"max_connections_per_uid"`

	// RetryAfter is the delay announced in the Retry-After header of a 429
	// or 503 answer, when the refusing component gave none. Rounded up to
	// whole seconds. Default 1s.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// Admission bounds the memory requests hold (bytes in flight) and lets
	// a request the pipeline refuses for now wait instead of being answered
	// 503 at once. See AdmissionConfig.
	Admission AdmissionConfig `mapstructure:"admission"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Transport = confignet.TransportTypeUnix
	server.MaxRequestBodySize = defaultMaxRequestBodySize
	// Every request header reaches the pipeline as client metadata, as the
	// stock otlp receiver does with include_metadata: true: trace_routing
	// reads the routing header there, and names it in its own config only.
	server.IncludeMetadata = true
	// A local producer sends its headers in one write: see
	// defaultReadHeaderTimeout.
	server.ReadHeaderTimeout = defaultReadHeaderTimeout
	return &Config{
		ServerConfig:         server,
		SocketMode:           defaultSocketMode,
		StrictFolderModes:    true,
		MaxConnections:       defaultMaxConnections,
		MaxConnectionsPerUID: defaultMaxConnectionsPerUID,
		ReadBodyTimeout:      defaultReadBodyTimeout,
		RetryAfter:           defaultRetryAfter,
		Admission:            defaultAdmissionConfig(),
	}
}

// movedKeys are keys this receiver no longer has; a config that still sets
// one fails with an error saying where its setting went.
var movedKeys = []confmoved.Key{
	{
		Name:    "trace_config_header",
		MovedTo: "every request header now reaches the pipeline as client metadata; name the routing header in the trace_routing processor's header key",
	},
}

var _ confmap.Unmarshaler = (*Config)(nil)

// Unmarshal refuses removed keys with an error naming where their setting
// moved, then decodes the rest as usual (confmap does not call this method
// again for the top-level struct).
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if err := confmoved.Check(conf, movedKeys...); err != nil {
		return err
	}
	return conf.Unmarshal(cfg)
}

// Validate checks the configuration one key at a time.
func (cfg *Config) Validate() error {
	if err := validateEndpoint(cfg.ServerConfig.NetAddr.Endpoint); err != nil {
		return err
	}
	if t := cfg.ServerConfig.NetAddr.Transport; t != "" && t != confignet.TransportTypeUnix {
		return fmt.Errorf("transport: must be %q (or left out), got %q", confignet.TransportTypeUnix, t)
	}
	if cfg.ServerConfig.TLS.HasValue() {
		return errors.New("tls: not supported on a unix socket; use socket_mode, socket_group and allowed_uids instead")
	}
	if cfg.ServerConfig.MaxRequestBodySize < 0 {
		return fmt.Errorf("max_request_body_size: must not be negative, got %d", cfg.ServerConfig.MaxRequestBodySize)
	}
	if _, err := parseSocketMode(cfg.SocketMode); err != nil {
		return err
	}
	if _, err := lookupGroup(cfg.SocketGroup); err != nil {
		return err
	}
	if err := cfg.validateConnectionCaps(); err != nil {
		return err
	}
	if err := cfg.validateReadBodyTimeout(); err != nil {
		return err
	}
	if cfg.RetryAfter <= 0 {
		return fmt.Errorf("retry_after: must be positive, got %s", cfg.RetryAfter)
	}
	return cfg.Admission.validate(cfg.ServerConfig)
}

func validateEndpoint(path string) error {
	if strings.TrimSpace(path) == "" {
		return errors.New("endpoint: must be set to the socket path")
	}
	if strings.ContainsRune(path, 0) {
		return errors.New("endpoint: must not contain a NUL byte")
	}
	if err := refuseURL(path); err != nil {
		return err
	}
	if strings.HasPrefix(path, "@") {
		return fmt.Errorf("endpoint: abstract sockets (%q) are not supported; use a file path", path)
	}
	if strings.HasPrefix(path, "~") {
		return fmt.Errorf("endpoint: %q: \"~\" is not expanded; use an absolute path or one relative to the working folder", path)
	}
	if strings.HasSuffix(path, "/") {
		return fmt.Errorf("endpoint: %q names a folder; name the socket file", path)
	}
	if base := filepath.Base(path); base == "." || base == ".." {
		return fmt.Errorf("endpoint: %q does not name a socket file", path)
	}
	if len(path) > maxSocketPathLen {
		return fmt.Errorf("endpoint: %q is %d bytes, a unix socket path holds at most %d", path, len(path), maxSocketPathLen)
	}
	if n := len(filepath.Dir(path)) + tempBindOverhead; n > maxSocketPathLen {
		return fmt.Errorf("endpoint: folder of %q is too long: the socket is bound in a temporary sub-folder first (%d bytes, at most %d)", path, n, maxSocketPathLen)
	}
	return nil
}

// urlSchemeRe matches the "scheme://" start of a URL.
var urlSchemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// refuseURL refuses an endpoint written as a URL ("unix:///run/otlp.sock",
// "unix:otlp.sock", "http://..."): it would otherwise pass as a relative
// path and create a folder named after the scheme.
func refuseURL(path string) error {
	if strings.HasPrefix(strings.ToLower(path), "unix:") {
		if file := strings.TrimPrefix(path[len("unix:"):], "//"); file != "" {
			return fmt.Errorf("endpoint: %q is a URL; give the socket file path, e.g. %q", path, file)
		}
	} else if !urlSchemeRe.MatchString(path) {
		return nil
	}
	return fmt.Errorf("endpoint: %q is a URL; give the socket file path", path)
}

// parseSocketMode reads an octal permission string such as "0660".
func parseSocketMode(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("socket_mode: must be set, an octal string such as \"0660\"")
	}
	mode, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil {
		return 0, fmt.Errorf("socket_mode: %q is not an octal number such as \"0660\"", s)
	}
	if mode&^0o777 != 0 {
		return 0, fmt.Errorf("socket_mode: %q has bits beyond 0777 (setuid, setgid, sticky are not allowed)", s)
	}
	return uint32(mode), nil
}

// noChangeGID is (gid_t)-1, which chown reads as "leave the group as is".
const noChangeGID = 1<<32 - 1

// lookupGroup resolves a group name or numeric gid; -1 means "leave as is".
func lookupGroup(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	if gid, err := strconv.ParseUint(s, 10, 32); err == nil {
		if gid == noChangeGID {
			return -1, fmt.Errorf("socket_group: %q is not a usable gid: to the kernel it means -1, \"leave the group unchanged\"", s)
		}
		return int(gid), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return -1, fmt.Errorf("socket_group: unknown group %q", s)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil || gid == noChangeGID {
		return -1, fmt.Errorf("socket_group: group %q has an unusable gid %q", s, g.Gid)
	}
	return int(gid), nil
}
