// Package loadgen sends OTLP/HTTP trace requests to a collector over a Unix
// domain socket or TCP, at a fixed rate of spans per second for a fixed time,
// and counts what was sent, accepted and refused. It has two modes. The
// default, ModeRetrying, is an OTLP client: it retries 429, 502, 503 and 504
// answers and connection errors, honouring Retry-After. ModeProducer is
// cloudflare/foundations' exporter (see ProducerConfig): a new connection per
// request, one request in flight per producer, never a retry, so any non-2xx
// answer loses its spans. Either way a run always stops by itself: it is
// bounded in time, and optionally in requests and in traces.
package loadgen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultSpansPerRequest = 500
	DefaultWorkers         = 4
	DefaultRequestTimeout  = 10 * time.Second
	DefaultDrainTimeout    = 30 * time.Second
	DefaultSpansPerTrace   = 10
	DefaultAttributes      = 8
	DefaultAttributeSize   = 16
	DefaultHandlerSpans    = 3
	DefaultHeader          = "cf-trace-config"
	DefaultRetryInitial    = 100 * time.Millisecond
	DefaultRetryMax        = 2 * time.Second

	// Producer mode (see ProducerConfig): foundations' max_batch_size in
	// the testbed, its queue bound, the export tasks.
	DefaultProducerSpansPerRequest = 512
	DefaultProducerQueueSpans      = 1_000_000
	DefaultProducers               = 4
	// DefaultProducerTimeout bounds one request in producer mode.
	// foundations sets no timeout of its own; the bound keeps a run finite,
	// and a request that reaches it counts as lost (no answer).
	DefaultProducerTimeout = 30 * time.Second
	DefaultServiceName     = "testbed-producer"
	DefaultServiceVersion  = "1.0.0"
)

// Mode says how the generator sends its requests.
type Mode string

const (
	// ModeRetrying is an OTLP client: Workers connections kept alive, the
	// refused requests retried as RetryPolicy says (the default).
	ModeRetrying Mode = ""
	// ModeProducer is cloudflare/foundations' OTLP-over-UDS exporter (see
	// ProducerConfig).
	ModeProducer Mode = "producer"
)

// Config describes one load run.
type Config struct {
	// Endpoint is a socket path ("/run/otlp.sock" or "unix:///run/otlp.sock")
	// or a TCP address ("127.0.0.1:4318" or "http://127.0.0.1:4318").
	Endpoint string
	// Rate is the offered load in spans per second; 0 sends as fast as the
	// workers can.
	Rate int
	// Duration bounds the time during which requests are offered. Required.
	Duration time.Duration
	// MaxRequests bounds the number of requests offered; 0: no bound.
	MaxRequests int
	// SpansPerRequest is the size of each request (default 500; 512 in
	// producer mode).
	SpansPerRequest int
	// Workers is the number of concurrent connections (default 4). In
	// producer mode it is Producer.Producers.
	Workers int
	// Mode is ModeRetrying (the default) or ModeProducer.
	Mode Mode
	// Producer configures ModeProducer.
	Producer ProducerConfig
	// JSON sends application/json bodies instead of protobuf.
	JSON bool
	// Span is the shape of every span.
	Span SpanShape
	// Trace is the shape of the traces and how many to send.
	Trace TraceShape
	// Identity stamps the lifecycle identity attributes on each resource;
	// nil stamps none.
	Identity *Identity
	// Routing adds a trace config header to each request; nil adds none.
	Routing *Routing
	// RequestTimeout bounds one HTTP attempt (default 10s; 30s in producer
	// mode).
	RequestTimeout time.Duration
	// Retry says how refused requests are retried (never in producer mode).
	Retry RetryPolicy
	// DrainTimeout bounds how long requests offered before the end of
	// Duration may keep retrying after it (default 30s).
	DrainTimeout time.Duration
	// RecordParents keeps, for every span sent, its parent span ID (zero
	// for a root) and its place in the send order, for invariant checks at
	// the backend (see Generator.Sent). Memory grows with the spans: use it
	// for bounded loads.
	RecordParents bool
}

// SpanShape is the shape of one span.
type SpanShape struct {
	// Attributes per span (default 8).
	Attributes int
	// AttributeSize is the length in bytes of each string value (default 16).
	AttributeSize int
}

// TraceShape says which traces are sent.
type TraceShape struct {
	// SpansPerTrace is the size of an ordinary trace: one root and its
	// children, the children sent first (default 10).
	SpansPerTrace int
	// Traces bounds the number of ordinary traces; 0: no bound (the run is
	// then bounded by Duration).
	Traces int
	// Lifecycle adds long-lived traces whose root arrives last.
	Lifecycle LifecycleShape
	// IDSeed, when not 0, fixes the trace and span IDs (otherwise random
	// per generator): two generators of the same shape and seed send the
	// same traces, so a scenario can run one input through two
	// topologies and compare the segments (scale-out: two replicas
	// against one). Generators of different seeds send different trace
	// and span IDs.
	IDSeed uint64
}

// LifecycleShape describes long-lived traces: a root span open for the life of
// a process, a handler span per message as its child, each handler with
// HandlerSpans-1 children of its own. Children are sent before their handler
// and the root is sent last of all, as a real process would end them.
type LifecycleShape struct {
	// Traces is the number of lifecycle traces (0: none).
	Traces int
	// SpansPerTrace is the size of each lifecycle trace, root included.
	SpansPerTrace int
	// HandlerSpans is the size of one handler subtree (default 3).
	HandlerSpans int
}

// Identity is the set of lifecycle identity attributes stamped on the
// resource of every request: component.name, footprint.identifier,
// footprint.revision (int), footprint.solution and process.nonce (a UUID, one
// per simulated process).
type Identity struct {
	Component string
	Solution  string
	Revision  int
	// Processes is the number of simulated processes, each with its own
	// footprint.identifier and process.nonce (default 1).
	Processes int
}

// Routing adds a trace config header to each request, in one of the
// shapes producers send (see TraceConfig).
type Routing struct {
	// Header name (default cf-trace-config).
	Header string
	// Configs, when not empty, are the trace configs sent, in turn:
	// request n carries Configs[n % len(Configs)] (the requests without a
	// header, see MissingEvery, take their turn too). They replace
	// Destinations, Sets, the fields and the encoding below.
	Configs []TraceConfig
	// Destinations are spread over the requests round robin, one per
	// request: the same as Sets of one destination each.
	Destinations []string
	// Sets, when not empty, replaces Destinations: request n names every
	// destination of Sets[n % len(Sets)], so a request may name several
	// (the collector then sends a copy to each). Each set becomes a
	// TraceConfig naming it, with the fields and the encoding below.
	Sets      [][]string
	Account   string
	Zone      string
	Workspace string
	Encoding  Encoding
	Base64    Base64
	// MissingEvery sends every n-th request without the header (0: never).
	MissingEvery int
}

// RetryPolicy controls the retries of refused requests. Retries happen on
// 429, 502, 503 and 504 and on connection errors; a Retry-After header sets
// the wait, otherwise the wait doubles from InitialInterval to MaxInterval.
type RetryPolicy struct {
	Disabled        bool
	InitialInterval time.Duration // default 100ms
	MaxInterval     time.Duration // default 2s
	// MaxElapsed bounds the retries of one request (default: DrainTimeout
	// plus Duration).
	MaxElapsed time.Duration
}

func (c *Config) applyDefaults() error {
	if c.Endpoint == "" {
		return errors.New("loadgen: endpoint is empty")
	}
	if c.Duration <= 0 {
		return errors.New("loadgen: duration must be positive")
	}
	if c.Rate < 0 {
		return errors.New("loadgen: rate must not be negative")
	}
	switch c.Mode {
	case ModeRetrying:
	case ModeProducer:
		if err := c.Producer.applyDefaults(c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("loadgen: unknown mode %q", c.Mode)
	}
	if c.SpansPerRequest <= 0 {
		c.SpansPerRequest = DefaultSpansPerRequest
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Span.Attributes < 0 || c.Span.AttributeSize < 0 {
		return errors.New("loadgen: span shape must not be negative")
	}
	if c.Span.Attributes == 0 && c.Span.AttributeSize == 0 {
		c.Span.Attributes, c.Span.AttributeSize = DefaultAttributes, DefaultAttributeSize
	}
	if c.Trace.SpansPerTrace <= 0 {
		c.Trace.SpansPerTrace = DefaultSpansPerTrace
	}
	lc := &c.Trace.Lifecycle
	if lc.Traces > 0 {
		if lc.SpansPerTrace < 2 {
			return errors.New("loadgen: a lifecycle trace needs at least 2 spans")
		}
		if lc.HandlerSpans <= 0 {
			lc.HandlerSpans = DefaultHandlerSpans
		}
	}
	if c.Identity != nil && c.Identity.Processes <= 0 {
		c.Identity.Processes = 1
	}
	if c.Routing != nil {
		// A copy: the defaults must not change the caller's Routing.
		r := *c.Routing
		if err := r.applyDefaults(); err != nil {
			return err
		}
		c.Routing = &r
	}
	if c.Retry.InitialInterval <= 0 {
		c.Retry.InitialInterval = DefaultRetryInitial
	}
	if c.Retry.MaxInterval <= 0 {
		c.Retry.MaxInterval = DefaultRetryMax
	}
	if c.Retry.MaxElapsed <= 0 {
		c.Retry.MaxElapsed = c.Duration + c.DrainTimeout
	}
	return nil
}

// IsUnix reports whether an endpoint names a Unix socket.
func IsUnix(endpoint string) bool {
	return strings.HasPrefix(endpoint, "unix://") || strings.HasPrefix(endpoint, "/") || strings.HasPrefix(endpoint, ".")
}
