package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

// udsReceiver serves OTLP/HTTP on a Unix domain socket. One instance serves
// every signal configured for it.
type udsReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	obsrep    *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder

	policy      peerPolicy
	maxBodySize int64
	admission   *admission

	nextTraces  consumer.Traces
	nextMetrics consumer.Metrics
	nextLogs    consumer.Logs

	server   *http.Server
	socket   *socketFile
	serveErr sync.WaitGroup

	// The socket's door (conncap.go, socketwatch.go).
	limiter       *connLimiter
	watch         *socketWatch
	watchInterval time.Duration // 0: socketCheckInterval; tests set less
}

func newReceiver(cfg *Config, set receiver.Settings) (*udsReceiver, error) {
	obsrep, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	maxBody := cfg.ServerConfig.MaxRequestBodySize
	if maxBody <= 0 {
		maxBody = defaultMaxRequestBodySize
	}
	return &udsReceiver{
		cfg:         cfg,
		settings:    set,
		obsrep:      obsrep,
		telemetry:   tb,
		policy:      peerPolicy{uids: cfg.AllowedUIDs, gids: cfg.AllowedGIDs},
		maxBodySize: maxBody,
		admission:   newAdmission(cfg.Admission, tb),
	}, nil
}

// Start takes over a stale socket if there is one, creates the socket with
// its mode and group and serves on it.
func (r *udsReceiver) Start(ctx context.Context, host component.Host) error {
	path := r.cfg.ServerConfig.NetAddr.Endpoint
	needCreds := r.policy.restricts() || r.cfg.PeerAttributes
	if needCreds && !peerCredSupported {
		return errors.New("allowed_uids, allowed_gids and peer_attributes need SO_PEERCRED, which this platform lacks")
	}
	mode, err := parseSocketMode(r.cfg.SocketMode)
	if err != nil {
		return err
	}
	gid, err := lookupGroup(r.cfg.SocketGroup)
	if err != nil {
		return err
	}

	routes := signalRoutes{handlers: make(map[string]http.HandlerFunc, 3)}
	if r.nextTraces != nil {
		routes.add(pathTraces, r.handleTraces)
	}
	if r.nextMetrics != nil {
		routes.add(pathMetrics, r.handleMetrics)
	}
	if r.nextLogs != nil {
		routes.add(pathLogs, r.handleLogs)
	}
	// ToServer fills in confighttp defaults on the config it is called on;
	// use a copy so the user's config stays as loaded.
	serverCfg := r.cfg.ServerConfig
	if serverCfg.MaxRequestBodySize <= 0 {
		serverCfg.MaxRequestBodySize = r.maxBodySize
	}
	srv, err := serverCfg.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, routes,
		confighttp.WithErrorHandler(r.writeEarlyError))
	if err != nil {
		return err
	}
	if needCreds {
		srv.ConnContext = connContext
	}
	r.limiter = newConnLimiter(r.cfg, r.telemetry, r.settings.Logger)
	r.limiter.hook(srv)
	// Admission runs before confighttp reads a byte of the body, after the
	// peer gate.
	srv.Handler = r.admissionGate(srv.Handler)
	if r.policy.restricts() {
		srv.Handler = r.peerGate(srv.Handler)
	}

	// The folders are checked before anything at the path is touched.
	opts := socketOptions{mode: mode, gid: gid}
	guard := folderGuard{trust: defaultFolderTrust(), strict: r.cfg.StrictFolderModes}
	warnings, err := guard.prepare(path, opts)
	if err != nil {
		return err
	}
	for _, msg := range warnings {
		r.settings.Logger.Warn(msg)
	}

	removed, err := takeOverStale(path)
	if err != nil {
		return err
	}
	if removed {
		r.telemetry.OtlpudsStaleSocketsRemoved.Add(ctx, 1)
		r.settings.Logger.Warn("Removed stale socket left behind by a previous process", zap.String("endpoint", path))
	}
	ln, sock, err := listenSocket(path, opts)
	if err != nil {
		return err
	}
	r.server = srv
	r.socket = sock
	r.settings.Logger.Info("Starting OTLP/HTTP server on unix socket",
		zap.String("endpoint", path), zap.String("socket_mode", fmt.Sprintf("%#o", mode)))

	r.startWatch(host, path, opts, guard, r.serve(host, ln))
	return nil
}

// signalRoutes serves each signal's handler at its exact path and answers
// any other path itself, 404 with a google.rpc.Status. Unlike http.ServeMux
// it never redirects a path that is not in canonical form (//v1/traces,
// /v1/./traces) with an HTML body.
type signalRoutes struct {
	handlers map[string]http.HandlerFunc
	served   []string // the paths of handlers, in the order added
}

func (s *signalRoutes) add(path string, h http.HandlerFunc) {
	s.handlers[path] = h
	s.served = append(s.served, path)
}

func (s signalRoutes) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// The escaped path, so that /v1%2Ftraces is as unknown as it is to
	// the stock receiver's ServeMux.
	if h, ok := s.handlers[req.URL.EscapedPath()]; ok {
		h(w, req)
		return
	}
	writeNotFound(w, req, s.served)
}

// Shutdown answers the requests waiting for admission or for the pipeline
// (503), stops accepting connections, waits for requests in flight (as
// long as ctx allows) and removes the socket file if it is still ours.
func (r *udsReceiver) Shutdown(ctx context.Context) error {
	r.stopWatch()
	r.admission.shutdown()
	var errs error
	if r.server != nil {
		errs = r.server.Shutdown(ctx)
		if errs != nil {
			// The deadline passed with requests still running: cut them.
			errs = errors.Join(errs, r.server.Close())
		}
		r.serveErr.Wait()
	}
	errs = errors.Join(errs, r.socket.remove())
	r.telemetry.Shutdown()
	return errs
}
