package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// fallbackStatus is sent when a status message cannot be marshalled.
var fallbackStatus = []byte(`{"code":13,"message":"failed to marshal error message"}`)

// failure is how a request that was not (fully) accepted is answered.
type failure struct {
	httpCode   int
	st         *status.Status
	retryAfter time.Duration // > 0 only for 429 and 503
}

// retryable says whether the client is told to retry (429 or 503): the
// pipeline refused the data for now.
func (f failure) retryable() bool {
	return f.httpCode == http.StatusTooManyRequests || f.httpCode == http.StatusServiceUnavailable
}

// failureFromConsumer maps the next consumer's error to an OTLP/HTTP answer:
// a permanent error is 400 (retrying cannot help); an error carrying a gRPC
// status or an HTTP code keeps it; any other error means the pipeline is
// refusing data for now (memory_limiter's ErrDataRefused, a full queue),
// which is 503 with Retry-After so the client retries.
func failureFromConsumer(err error, defaultRetry time.Duration) failure {
	msg := err.Error()
	if consumererror.IsPermanent(err) {
		return failure{httpCode: http.StatusBadRequest, st: status.New(codes.InvalidArgument, msg)}
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.OK {
		return withRetry(failure{httpCode: httpCodeOf(st.Code()), st: st}, defaultRetry)
	}
	if ce, ok := errors.AsType[*consumererror.Error](err); ok {
		if code := consumererror.ToHTTPStatus(ce); code != http.StatusInternalServerError {
			return withRetry(failure{httpCode: code, st: status.New(grpcCodeOf(code), msg)}, defaultRetry)
		}
	}
	return withRetry(failure{httpCode: http.StatusServiceUnavailable, st: status.New(codes.Unavailable, msg)}, defaultRetry)
}

// withRetry sets Retry-After on throttling answers: the delay the refusing
// component asked for (google.rpc.RetryInfo), else the configured one.
func withRetry(f failure, defaultRetry time.Duration) failure {
	if f.httpCode != http.StatusTooManyRequests && f.httpCode != http.StatusServiceUnavailable {
		return f
	}
	f.retryAfter = defaultRetry
	for _, d := range f.st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			f.retryAfter = ri.GetRetryDelay().AsDuration()
			return f
		}
	}
	if withInfo, err := f.st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(f.retryAfter)}); err == nil {
		f.st = withInfo
	}
	return f
}

// httpCodeOf follows the OTLP specification's mapping of gRPC codes.
func httpCodeOf(c codes.Code) int {
	switch c {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return http.StatusServiceUnavailable
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unimplemented:
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

// grpcCodeOf is the reverse mapping, for the status body of an HTTP code.
func grpcCodeOf(httpCode int) codes.Code {
	switch httpCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return codes.Unimplemented
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusRequestTimeout:
		return codes.DeadlineExceeded
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	default:
		return codes.Unknown
	}
}

// writeFailure answers with a google.rpc.Status in the request's encoding.
func writeFailure(w http.ResponseWriter, enc encoding, f failure) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(f.retryAfter))
	}
	st := f.st.Proto()
	// protojson refuses invalid UTF-8, which a decode error may quote.
	st.Message = strings.ToValidUTF8(st.GetMessage(), "\uFFFD")
	body, err := enc.marshalStatus(st)
	if err != nil {
		writeBody(w, contentTypeJSON, http.StatusInternalServerError, fallbackStatus)
		return
	}
	writeBody(w, enc.contentType(), f.httpCode, body)
}

// writeCodeMessage answers with an HTTP code and a message as a status.
func writeCodeMessage(w http.ResponseWriter, enc encoding, httpCode int, msg string) {
	writeFailure(w, enc, failure{httpCode: httpCode, st: status.New(grpcCodeOf(httpCode), msg)})
}

// retryAfterSeconds formats a delay as whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

func writeBody(w http.ResponseWriter, contentType string, httpCode int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(httpCode)
	_, _ = w.Write(body) // #nosec G705 -- OTLP payload with an explicit non-HTML Content-Type
}

// answerEncoding is the encoding of an error answer to r: protobuf if the
// request's Content-Type asks for it, else JSON (also for an unknown or
// missing Content-Type).
func answerEncoding(r *http.Request) encoding {
	if encodingOf(r.Header.Get("Content-Type")) == encodingProtobuf {
		return encodingProtobuf
	}
	return encodingJSON
}

// writeMethodNotAllowed answers 405 with a google.rpc.Status: OTLP/HTTP is
// POST only.
func writeMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeCodeMessage(w, answerEncoding(r), http.StatusMethodNotAllowed,
		fmt.Sprintf("method %s not allowed, supported: [POST]", r.Method))
}

// writeUnsupportedMediaType answers 415, with a google.rpc.Status in JSON,
// for a Content-Type that is neither protobuf nor JSON.
func writeUnsupportedMediaType(w http.ResponseWriter, r *http.Request) {
	writeCodeMessage(w, encodingJSON, http.StatusUnsupportedMediaType,
		fmt.Sprintf("unsupported Content-Type %q, supported: [%s, %s]", r.Header.Get("Content-Type"), contentTypeJSON, contentTypeProtobuf))
}

// writeNotFound answers 404, with a google.rpc.Status, for a path other
// than the signals this receiver has a pipeline for.
func writeNotFound(w http.ResponseWriter, r *http.Request, served []string) {
	writeCodeMessage(w, answerEncoding(r), http.StatusNotFound,
		fmt.Sprintf("no OTLP signal at %q, served here: %v", r.URL.EscapedPath(), served))
}

// writeEarlyError answers, in OTLP form and keeping their code, requests
// refused before they reach a signal handler: by confighttp's own handlers
// (an unsupported Content-Encoding, a corrupt compressed body, an
// authenticator's refusal) or by the peer gate. The body is JSON unless the
// request's Content-Type asks for protobuf.
//
// confighttp's snappy (block format) decoder refuses a body whose announced
// decoded length is over max_request_body_size before decoding it, with a
// 400; that is answered 413, as an oversized body in any other encoding is,
// with the same message.
func (r *udsReceiver) writeEarlyError(w http.ResponseWriter, req *http.Request, msg string, httpCode int) {
	enc := answerEncoding(req)
	if ticketFrom(req.Context()).bodyTimedOut() {
		// A decompressor's read of the body passed read_body_timeout.
		r.writeBodyTimeout(w, enc)
		return
	}
	if httpCode == http.StatusBadRequest && msg == snappyTooLargeMessage {
		r.writeTooLarge(w, enc)
		return
	}
	writeCodeMessage(w, enc, httpCode, msg)
}

// writeTooLarge answers 413 for a body, received or decompressed, over
// max_request_body_size, whichever layer noticed it.
func (r *udsReceiver) writeTooLarge(w http.ResponseWriter, enc encoding) {
	writeCodeMessage(w, enc, http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body larger than max_request_body_size (%d bytes)", r.maxBodySize))
}

// snappyTooLargeMessage is the error confighttp v1.71.0 reports for a snappy
// block whose decoded size is over the body limit.
const snappyTooLargeMessage = "snappy: decoded size exceeds max request body size"
