package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
)

const (
	pathTraces  = "/v1/traces"
	pathMetrics = "/v1/metrics"
	pathLogs    = "/v1/logs"
)

// readRequest checks method and Content-Type, then reads the whole
// (already decompressed) body into a pooled buffer, charging its room to
// the request's admission ticket. It answers the request itself and
// returns ok=false when the request cannot go on.
func (r *udsReceiver) readRequest(w http.ResponseWriter, req *http.Request, t *ticket) (encoding, *bodyBuffer, bool) {
	if req.Method != http.MethodPost {
		writeMethodNotAllowed(w, req)
		return encodingUnknown, nil, false
	}
	enc := encodingOf(req.Header.Get("Content-Type"))
	if enc == encodingUnknown {
		writeUnsupportedMediaType(w, req)
		return encodingUnknown, nil, false
	}
	if t != nil && t.tooLarge {
		// Answered as it would be once decoded that far, but now.
		r.writeTooLarge(w, enc)
		return enc, nil, false
	}
	buf, err := r.readBody(req.Context(), req.Body, t, req.ContentLength)
	// Closing gives a zstd decoder back to confighttp's pool now, not when
	// the request ends.
	_ = req.Body.Close()
	if err != nil {
		if t.bodyTimedOut() {
			r.writeBodyTimeout(w, enc)
			return enc, nil, false
		}
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			r.writeTooLarge(w, enc)
			return enc, nil, false
		}
		if ae, busy := errors.AsType[*admissionError](err); busy {
			r.refuseBusy(w, req, waitRequestLimit, ae.why)
			return enc, nil, false
		}
		writeCodeMessage(w, enc, http.StatusBadRequest, "reading request body: "+err.Error())
		return enc, nil, false
	}
	// Read whole: the pipeline may take its time, the connection's read
	// deadline must not cut the request then.
	t.stopClock()
	return enc, buf, true
}

// requestContext returns the context handed to the pipeline (its client
// metadata holds every request header unless include_metadata is false:
// confighttp put them there) and the peer credentials when resources must
// be stamped with them.
func (r *udsReceiver) requestContext(req *http.Request) (context.Context, *peerCred) {
	ctx := req.Context()
	if !r.cfg.PeerAttributes {
		return ctx, nil
	}
	pc, ok := peerCredFromContext(ctx)
	if !ok || pc.err != nil {
		return ctx, nil
	}
	return ctx, pc
}

// badBody answers 400 for a body that does not decode.
func badBody(w http.ResponseWriter, enc encoding, err error) {
	writeCodeMessage(w, enc, http.StatusBadRequest, "cannot decode OTLP "+enc.format()+" body: "+err.Error())
}

// signal is what handle needs to know about one OTLP signal (traces,
// metrics or logs), whose pdata type is D.
type signal[D any] struct {
	// kind names the signal's line of requests waiting for its pipeline.
	kind signalKind
	// decode unmarshals a request body.
	decode func(enc encoding, body []byte) (D, error)
	// stamp writes the peer attributes on every resource.
	stamp func(D, *peerCred)
	// count is the number of items (spans, data points, log records).
	count    func(D) int
	consume  func(r *udsReceiver, ctx context.Context, data D) error
	startOp  func(*receiverhelper.ObsReport, context.Context) context.Context
	endOp    func(o *receiverhelper.ObsReport, ctx context.Context, format string, n int, err error)
	rejected func(error) (int, bool)
	// response is the answer to an accepted request, reporting the
	// rejected items of a partial success (none when rejected is 0).
	response func(rejected int, msg string) otlpResponse
}

var (
	tracesSignal = signal[ptrace.Traces]{
		kind: signalTraces,
		decode: func(enc encoding, body []byte) (ptrace.Traces, error) {
			req := ptraceotlp.NewExportRequest()
			err := enc.unmarshal(req, body)
			return req.Traces(), err
		},
		stamp: func(td ptrace.Traces, pc *peerCred) {
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				pc.stamp(rss.At(i).Resource().Attributes())
			}
		},
		count: ptrace.Traces.SpanCount,
		consume: func(r *udsReceiver, ctx context.Context, td ptrace.Traces) error {
			return r.nextTraces.ConsumeTraces(ctx, td)
		},
		startOp:  (*receiverhelper.ObsReport).StartTracesOp,
		endOp:    (*receiverhelper.ObsReport).EndTracesOp,
		rejected: rejectedSpans,
		response: func(rejected int, msg string) otlpResponse {
			resp := ptraceotlp.NewExportResponse()
			if rejected > 0 {
				resp.PartialSuccess().SetRejectedSpans(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(msg)
			}
			return resp
		},
	}
	metricsSignal = signal[pmetric.Metrics]{
		kind: signalMetrics,
		decode: func(enc encoding, body []byte) (pmetric.Metrics, error) {
			req := pmetricotlp.NewExportRequest()
			err := enc.unmarshal(req, body)
			return req.Metrics(), err
		},
		stamp: func(md pmetric.Metrics, pc *peerCred) {
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				pc.stamp(rms.At(i).Resource().Attributes())
			}
		},
		count: pmetric.Metrics.DataPointCount,
		consume: func(r *udsReceiver, ctx context.Context, md pmetric.Metrics) error {
			return r.nextMetrics.ConsumeMetrics(ctx, md)
		},
		startOp:  (*receiverhelper.ObsReport).StartMetricsOp,
		endOp:    (*receiverhelper.ObsReport).EndMetricsOp,
		rejected: rejectedDataPoints,
		response: func(rejected int, msg string) otlpResponse {
			resp := pmetricotlp.NewExportResponse()
			if rejected > 0 {
				resp.PartialSuccess().SetRejectedDataPoints(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(msg)
			}
			return resp
		},
	}
	logsSignal = signal[plog.Logs]{
		kind: signalLogs,
		decode: func(enc encoding, body []byte) (plog.Logs, error) {
			req := plogotlp.NewExportRequest()
			err := enc.unmarshal(req, body)
			return req.Logs(), err
		},
		stamp: func(ld plog.Logs, pc *peerCred) {
			rls := ld.ResourceLogs()
			for i := 0; i < rls.Len(); i++ {
				pc.stamp(rls.At(i).Resource().Attributes())
			}
		},
		count: plog.Logs.LogRecordCount,
		consume: func(r *udsReceiver, ctx context.Context, ld plog.Logs) error {
			return r.nextLogs.ConsumeLogs(ctx, ld)
		},
		startOp:  (*receiverhelper.ObsReport).StartLogsOp,
		endOp:    (*receiverhelper.ObsReport).EndLogsOp,
		rejected: rejectedLogRecords,
		response: func(rejected int, msg string) otlpResponse {
			resp := plogotlp.NewExportResponse()
			if rejected > 0 {
				resp.PartialSuccess().SetRejectedLogRecords(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(msg)
			}
			return resp
		},
	}
)

func (r *udsReceiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	handle(r, w, req, &tracesSignal)
}

func (r *udsReceiver) handleMetrics(w http.ResponseWriter, req *http.Request) {
	handle(r, w, req, &metricsSignal)
}

func (r *udsReceiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	handle(r, w, req, &logsSignal)
}

// handle serves one export request of signal s: decode, stamp the peer
// attributes, hand the data on and answer. A partial success is recorded
// as two obsreport operations, the accepted items and the rejected ones.
func handle[D any](r *udsReceiver, w http.ResponseWriter, req *http.Request, s *signal[D]) {
	t := ticketFrom(req.Context())
	enc, buf, ok := r.readRequest(w, req, t)
	if !ok {
		return
	}
	data, err := s.decode(enc, buf.Bytes())
	size := int64(buf.Len())
	putBuffer(buf)
	// From here the request is charged for its decoded data, counted by
	// its body's size.
	t.bodyRead(size)
	if err != nil {
		badBody(w, enc, err)
		return
	}
	ctx, pc := r.requestContext(req)
	// Items holding a value nested deeper than pdata's protobuf decoder
	// accepts are taken out before anything else sees them (depth.go).
	deep, answered := refuseTooDeep(r, w, ctx, enc, s, data)
	if answered {
		return
	}
	if pc != nil {
		s.stamp(data, pc)
	}
	rejected := 0
	if n := s.count(data); n > 0 {
		ctx = s.startOp(r.obsrep, ctx)
		o := r.consume(ctx, t, s.kind, size, n, func(ctx context.Context) error {
			return s.consume(r, ctx, data)
		}, s.rejected)
		err, rejected = o.err, o.rejected
		if o.failure != nil || rejected == 0 {
			s.endOp(r.obsrep, ctx, enc.format(), n, err)
		} else {
			s.endOp(r.obsrep, ctx, enc.format(), n-rejected, nil)
			s.endOp(r.obsrep, ctx, enc.format(), rejected, err)
		}
		if o.gone {
			// The client disconnected while waiting: nobody to answer.
			return
		}
		if o.failure != nil {
			writeFailure(w, enc, *o.failure)
			return
		}
	}
	msg := ""
	if rejected > 0 {
		msg = err.Error()
	}
	rejected, msg = deep.addTo(rejected, msg)
	r.writeResponse(w, enc, s.response(rejected, msg))
}

// consume offers a request's data (size bytes decoded, total items) to the
// pipeline of kind k. A retryable refusal (one answered 429 or 503, such as
// memory_limiter's) is not answered at once: the request lines up in the
// waiting room, and requests waiting for the pipeline are offered to it
// again first come, first served: only the head of the line is offered, at
// once when the pipeline took the data of the request before it, else every
// retryInterval (50 ms). A request arriving while others wait for the
// pipeline lines up behind them without being offered first, so a producer
// that was just answered cannot take the pipeline's next opening from one
// that has waited longer. A request waits until admission's max_wait from
// its arrival; past that, when the room is full or the receiver shuts down,
// the last refusal is answered as it would have been at once (a request
// never offered, with 503 saying it waited for the pipeline). gone is true
// when the client disconnected while waiting.
//
// Such an error must mean the pipeline kept nothing of the data, which is
// what a retrying client relies on too; memory_limiter refuses before any
// other component sees the data.
func (r *udsReceiver) consume(ctx context.Context, t *ticket, k signalKind, size int64, total int, offer func(context.Context) error, subset func(error) (int, bool)) offered {
	a := r.admission
	try := func() offered {
		err := offer(ctx)
		rejected, f := r.outcome(err, total, subset)
		return offered{err: err, rejected: rejected, failure: f}
	}
	var o offered
	tried := false
	place, why := t.lineUp(k, size, false)
	if place == nil {
		// Nobody waits for the pipeline (or this request may not wait:
		// then it has one offer, as it would have without waiting).
		o, tried = try(), true
		if o.failure == nil || !o.failure.retryable() {
			return o
		}
		if why == refusalNone {
			place, why = t.lineUp(k, size, true)
		}
		if place == nil {
			a.refused(waitPipeline, why)
			return o
		}
	}
	defer t.leaveLine(place)
	for {
		if why := t.awaitTurn(ctx, place); why != refusalNone {
			a.refused(waitPipeline, why)
			if !tried {
				o = r.neverOffered(why, total)
			}
			o.gone = why == refusalClientGone
			return o
		}
		o, tried = try(), true
		moved := o.failure == nil || !o.failure.retryable()
		t.offered(place, moved)
		if moved {
			return o
		}
		if !time.Now().Before(t.deadline) {
			a.refused(waitPipeline, refusalTimeout)
			return o
		}
	}
}

// neverOffered is the answer to a request that left the line for the
// pipeline before its turn came: 503 with Retry-After.
func (r *udsReceiver) neverOffered(why refusal, total int) offered {
	msg := "receiver shutting down"
	if why != refusalShutdown {
		msg = fmt.Sprintf("receiver busy: the pipeline refused the requests ahead of this one for admission::max_wait (%s)", r.cfg.Admission.MaxWait)
	}
	err := errBusy(msg)
	f := failureFromConsumer(err, r.cfg.RetryAfter)
	return offered{err: err, rejected: total, failure: &f}
}

// offered is the outcome of offering a request's data to the pipeline.
type offered struct {
	err      error    // the last answer of the pipeline
	rejected int      // items rejected
	failure  *failure // how to answer, unless 200
	gone     bool     // the client disconnected while waiting
}

// outcome reads the next consumer's error for a request of total items.
// It returns how many items were rejected and, unless the request is
// answered 200, the failure to answer with. A partial success is a
// permanent error carrying the rejected subset (consumererror.NewTraces and
// friends, wrapped in consumererror.NewPermanent): the rest was accepted and
// retrying would only duplicate it.
func (r *udsReceiver) outcome(err error, total int, subset func(error) (int, bool)) (int, *failure) {
	if err == nil {
		return 0, nil
	}
	if consumererror.IsPermanent(err) {
		if n, ok := subset(err); ok && n > 0 && n < total {
			return n, nil
		}
	}
	f := failureFromConsumer(err, r.cfg.RetryAfter)
	return total, &f
}

func rejectedSpans(err error) (int, bool) {
	if e, ok := errors.AsType[consumererror.Traces](err); ok {
		return e.Data().SpanCount(), true
	}
	return 0, false
}

func rejectedDataPoints(err error) (int, bool) {
	if e, ok := errors.AsType[consumererror.Metrics](err); ok {
		return e.Data().DataPointCount(), true
	}
	return 0, false
}

func rejectedLogRecords(err error) (int, bool) {
	if e, ok := errors.AsType[consumererror.Logs](err); ok {
		return e.Data().LogRecordCount(), true
	}
	return 0, false
}

func (r *udsReceiver) writeResponse(w http.ResponseWriter, enc encoding, resp otlpResponse) {
	body, err := enc.marshal(resp)
	if err != nil {
		writeCodeMessage(w, enc, http.StatusInternalServerError, "marshalling response: "+err.Error())
		return
	}
	writeBody(w, enc.contentType(), http.StatusOK, body)
}

// peerGate refuses, with 403, peers whose credentials the policy does not
// allow. It runs before anything else reads the request.
func (r *udsReceiver) peerGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		pc, _ := peerCredFromContext(req.Context())
		if !r.policy.allows(pc) {
			r.telemetry.OtlpudsPeersRefused.Add(req.Context(), 1)
			msg := "peer not allowed by allowed_uids / allowed_gids"
			if pc != nil && pc.err == nil {
				msg = fmt.Sprintf("peer uid %d gid %d not allowed by allowed_uids / allowed_gids", pc.uid, pc.gid)
			}
			r.writeEarlyError(w, req, msg, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

// Compile-time checks that the pdata types fit the shared interfaces.
var (
	_ otlpRequest  = ptraceotlp.ExportRequest{}
	_ otlpRequest  = pmetricotlp.ExportRequest{}
	_ otlpRequest  = plogotlp.ExportRequest{}
	_ otlpResponse = ptraceotlp.ExportResponse{}
	_ otlpResponse = pmetricotlp.ExportResponse{}
	_ otlpResponse = plogotlp.ExportResponse{}
)
