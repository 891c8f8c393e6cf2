package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

const (
	pathTraces  = "/v1/traces"
	pathMetrics = "/v1/metrics"
	pathLogs    = "/v1/logs"
)

// readRequest checks method and Content-Type, then reads the whole
// (already decompressed) body into a pooled buffer. It answers the request
// itself and returns ok=false when the request cannot go on.
func (r *udsReceiver) readRequest(w http.ResponseWriter, req *http.Request) (encoding, *bytes.Buffer, bool) {
	if req.Method != http.MethodPost {
		writeMethodNotAllowed(w)
		return encodingUnknown, nil, false
	}
	enc := encodingOf(req.Header.Get("Content-Type"))
	if enc == encodingUnknown {
		writeUnsupportedMediaType(w)
		return encodingUnknown, nil, false
	}
	buf := getBuffer()
	buf.Grow(preGrowSize(req.ContentLength, r.maxBodySize))
	_, err := buf.ReadFrom(req.Body)
	_ = req.Body.Close()
	if err != nil {
		putBuffer(buf)
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeCodeMessage(w, enc, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body larger than max_request_body_size (%d bytes)", r.maxBodySize))
			return enc, nil, false
		}
		writeCodeMessage(w, enc, http.StatusBadRequest, "reading request body: "+err.Error())
		return enc, nil, false
	}
	return enc, buf, true
}

// requestContext returns the context handed to the pipeline: client
// metadata always holds the trace config header, and the peer credentials
// are returned when resources must be stamped with them.
func (r *udsReceiver) requestContext(req *http.Request) (context.Context, *peerCred) {
	ctx := req.Context()
	if !r.cfg.ServerConfig.IncludeMetadata {
		// With include_metadata, confighttp already copied every header.
		if vals := req.Header.Values(r.traceConfigHeader); len(vals) > 0 {
			info := client.FromContext(ctx)
			md := make(map[string][]string, 1)
			for k := range info.Metadata.Keys() {
				md[k] = info.Metadata.Get(k)
			}
			md[r.traceConfigHeader] = vals
			info.Metadata = client.NewMetadata(md)
			ctx = client.NewContext(ctx, info)
		}
	}
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

func (r *udsReceiver) handleTraces(w http.ResponseWriter, req *http.Request) {
	enc, buf, ok := r.readRequest(w, req)
	if !ok {
		return
	}
	otlpReq := ptraceotlp.NewExportRequest()
	err := enc.unmarshal(otlpReq, buf.Bytes())
	putBuffer(buf)
	if err != nil {
		badBody(w, enc, err)
		return
	}
	td := otlpReq.Traces()
	ctx, pc := r.requestContext(req)
	if pc != nil {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			pc.stamp(rss.At(i).Resource().Attributes())
		}
	}
	resp := ptraceotlp.NewExportResponse()
	if n := td.SpanCount(); n > 0 {
		ctx = r.obsrep.StartTracesOp(ctx)
		err = r.nextTraces.ConsumeTraces(ctx, td)
		rejected, f := r.outcome(err, n, rejectedSpans)
		if f != nil || rejected == 0 {
			r.obsrep.EndTracesOp(ctx, enc.format(), n, err)
		} else {
			r.obsrep.EndTracesOp(ctx, enc.format(), n-rejected, nil)
			r.obsrep.EndTracesOp(ctx, enc.format(), rejected, err)
		}
		if f != nil {
			writeFailure(w, enc, *f)
			return
		}
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedSpans(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(err.Error())
		}
	}
	r.writeResponse(w, enc, resp)
}

func (r *udsReceiver) handleMetrics(w http.ResponseWriter, req *http.Request) {
	enc, buf, ok := r.readRequest(w, req)
	if !ok {
		return
	}
	otlpReq := pmetricotlp.NewExportRequest()
	err := enc.unmarshal(otlpReq, buf.Bytes())
	putBuffer(buf)
	if err != nil {
		badBody(w, enc, err)
		return
	}
	md := otlpReq.Metrics()
	ctx, pc := r.requestContext(req)
	if pc != nil {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			pc.stamp(rms.At(i).Resource().Attributes())
		}
	}
	resp := pmetricotlp.NewExportResponse()
	if n := md.DataPointCount(); n > 0 {
		ctx = r.obsrep.StartMetricsOp(ctx)
		err = r.nextMetrics.ConsumeMetrics(ctx, md)
		rejected, f := r.outcome(err, n, rejectedDataPoints)
		if f != nil || rejected == 0 {
			r.obsrep.EndMetricsOp(ctx, enc.format(), n, err)
		} else {
			r.obsrep.EndMetricsOp(ctx, enc.format(), n-rejected, nil)
			r.obsrep.EndMetricsOp(ctx, enc.format(), rejected, err)
		}
		if f != nil {
			writeFailure(w, enc, *f)
			return
		}
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedDataPoints(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(err.Error())
		}
	}
	r.writeResponse(w, enc, resp)
}

func (r *udsReceiver) handleLogs(w http.ResponseWriter, req *http.Request) {
	enc, buf, ok := r.readRequest(w, req)
	if !ok {
		return
	}
	otlpReq := plogotlp.NewExportRequest()
	err := enc.unmarshal(otlpReq, buf.Bytes())
	putBuffer(buf)
	if err != nil {
		badBody(w, enc, err)
		return
	}
	ld := otlpReq.Logs()
	ctx, pc := r.requestContext(req)
	if pc != nil {
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			pc.stamp(rls.At(i).Resource().Attributes())
		}
	}
	resp := plogotlp.NewExportResponse()
	if n := ld.LogRecordCount(); n > 0 {
		ctx = r.obsrep.StartLogsOp(ctx)
		err = r.nextLogs.ConsumeLogs(ctx, ld)
		rejected, f := r.outcome(err, n, rejectedLogRecords)
		if f != nil || rejected == 0 {
			r.obsrep.EndLogsOp(ctx, enc.format(), n, err)
		} else {
			r.obsrep.EndLogsOp(ctx, enc.format(), n-rejected, nil)
			r.obsrep.EndLogsOp(ctx, enc.format(), rejected, err)
		}
		if f != nil {
			writeFailure(w, enc, *f)
			return
		}
		if rejected > 0 {
			resp.PartialSuccess().SetRejectedLogRecords(int64(rejected))
			resp.PartialSuccess().SetErrorMessage(err.Error())
		}
	}
	r.writeResponse(w, enc, resp)
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
			enc := encodingOf(req.Header.Get("Content-Type"))
			if enc == encodingUnknown {
				enc = encodingJSON
			}
			msg := "peer not allowed by allowed_uids / allowed_gids"
			if pc != nil && pc.err == nil {
				msg = fmt.Sprintf("peer uid %d gid %d not allowed by allowed_uids / allowed_gids", pc.uid, pc.gid)
			}
			writeCodeMessage(w, enc, http.StatusForbidden, msg)
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
