package otlpudsreceiver

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
)

func tracesBody(t testing.TB, n int, enc encoding) []byte {
	t.Helper()
	b, err := enc.marshal(ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(n)))
	require.NoError(t, err)
	return b
}

func metricsBody(t testing.TB) []byte {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(testdata.GenerateMetrics(2)).MarshalProto()
	require.NoError(t, err)
	return b
}

func logsBody(t testing.TB) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(testdata.GenerateLogs(2)).MarshalProto()
	require.NoError(t, err)
	return b
}

func ctHeader(enc encoding) map[string]string {
	return map[string]string{"Content-Type": enc.contentType()}
}

// decodeStatus reads a google.rpc.Status answer in the given encoding.
func decodeStatus(t testing.TB, enc encoding, body []byte) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	if enc == encodingJSON {
		require.NoError(t, protojson.Unmarshal(body, st), string(body))
	} else {
		require.NoError(t, proto.Unmarshal(body, st))
	}
	return st
}

func TestAllSignalsProtobufAndJSON(t *testing.T) {
	cons, ts, ms, ls := sinks()
	r := startReceiver(t, testConfig(t), cons)

	for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
		t.Run(enc.format(), func(t *testing.T) {
			ts.Reset()
			ms.Reset()
			ls.Reset()

			td := testdata.GenerateTraces(5)
			body, err := enc.marshal(ptraceotlp.NewExportRequestFromTraces(td))
			require.NoError(t, err)
			resp, respBody := post(t, r.client, pathTraces, body, ctHeader(enc))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
			assert.Equal(t, enc.contentType(), resp.Header.Get("Content-Type"))
			tr := ptraceotlp.NewExportResponse()
			require.NoError(t, unmarshalResponse(enc, tr, respBody))
			assert.Zero(t, tr.PartialSuccess().RejectedSpans())
			require.Len(t, ts.AllTraces(), 1)
			assert.Equal(t, td, ts.AllTraces()[0])

			md := testdata.GenerateMetrics(4)
			body, err = enc.marshal(pmetricotlp.NewExportRequestFromMetrics(md))
			require.NoError(t, err)
			resp, respBody = post(t, r.client, pathMetrics, body, ctHeader(enc))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
			require.Len(t, ms.AllMetrics(), 1)
			assert.Equal(t, md, ms.AllMetrics()[0])

			ld := testdata.GenerateLogs(3)
			body, err = enc.marshal(plogotlp.NewExportRequestFromLogs(ld))
			require.NoError(t, err)
			resp, respBody = post(t, r.client, pathLogs, body, ctHeader(enc))
			require.Equal(t, http.StatusOK, resp.StatusCode, string(respBody))
			require.Len(t, ls.AllLogs(), 1)
			assert.Equal(t, ld, ls.AllLogs()[0])
		})
	}

	// Receiver metrics count every item accepted, per signal.
	assert.Equal(t, int64(10), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	assert.Equal(t, int64(10), counter(t, r.tt, "otelcol_receiver_accepted_spans", "transport", "http"))
	assert.Equal(t, int64(2*testdata.GenerateMetrics(4).DataPointCount()), counter(t, r.tt, "otelcol_receiver_accepted_metric_points", "", ""))
	assert.Equal(t, int64(6), counter(t, r.tt, "otelcol_receiver_accepted_log_records", "", ""))
	assert.Zero(t, counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
}

func unmarshalResponse(enc encoding, resp interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}, body []byte,
) error {
	return enc.unmarshal(resp, body)
}

func TestContentTypeWithParameters(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 2, encodingJSON),
		map[string]string{"Content-Type": "application/json; charset=utf-8"})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, ts.SpanCount())
}

func TestEmptyRequestIsAccepted(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	resp, _ := post(t, r.client, pathTraces, nil, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, ts.AllTraces())
}

// compressors are the Content-Encodings the README lists, each with an
// encoder producing what confighttp's decoder of that name reads ("deflate"
// is the zlib format, as in HTTP; "snappy" the block format).
var compressors = []struct {
	name     string
	compress func(testing.TB, []byte) []byte
}{
	{"gzip", streamCompress(gzip.NewWriter)},
	{"zstd", func(t testing.TB, b []byte) []byte {
		w, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		defer w.Close()
		return w.EncodeAll(b, nil)
	}},
	{"zlib", streamCompress(zlib.NewWriter)},
	{"deflate", streamCompress(zlib.NewWriter)},
	{"snappy", func(_ testing.TB, b []byte) []byte { return snappy.Encode(nil, b) }},
	{"x-snappy-framed", streamCompress(snappy.NewBufferedWriter)},
	{"lz4", streamCompress(lz4.NewWriter)},
}

// streamCompress returns a compress function for a streaming encoder:
// newWriter's writer takes the whole body and is closed to flush it.
func streamCompress[W io.WriteCloser](newWriter func(io.Writer) W) func(testing.TB, []byte) []byte {
	return func(t testing.TB, b []byte) []byte {
		var buf bytes.Buffer
		w := newWriter(&buf)
		_, err := w.Write(b)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
}

// TestCompression sends a body in every Content-Encoding the README lists,
// protobuf and JSON.
func compressorNames() []string {
	var names []string
	for _, c := range compressors {
		names = append(names, c.name)
	}
	return names
}

func TestCompression(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	row := regexp.MustCompile("(?m)^\\| `compression_algorithms` \\| `(\\[.*\\])` \\|").FindSubmatch(readme)
	require.NotNil(t, row, "README.md config table has no compression_algorithms row")
	var listed []string
	require.NoError(t, json.Unmarshal(row[1], &listed))
	assert.ElementsMatch(t, append([]string{""}, compressorNames()...), listed, "every compression the README lists is tested")
	for _, c := range compressors {
		for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
			t.Run(c.name+"/"+enc.format(), func(t *testing.T) {
				ts.Reset()
				resp, body := post(t, r.client, pathTraces, c.compress(t, tracesBody(t, 7, enc)), map[string]string{
					"Content-Type":     enc.contentType(),
					"Content-Encoding": c.name,
				})
				require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
				assert.Equal(t, 7, ts.SpanCount())
			})
		}
	}
	t.Run("snappy with a framed body", func(t *testing.T) {
		// confighttp reads "snappy" bodies in the framed format too.
		ts.Reset()
		framed := compressors[5]
		require.Equal(t, "x-snappy-framed", framed.name)
		resp, body := post(t, r.client, pathTraces, framed.compress(t, tracesBody(t, 7, encodingProtobuf)), map[string]string{
			"Content-Type":     contentTypeProtobuf,
			"Content-Encoding": "snappy",
		})
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.Equal(t, 7, ts.SpanCount())
	})

	t.Run("corrupt gzip", func(t *testing.T) {
		resp, body := post(t, r.client, pathTraces, []byte("not gzip at all"), map[string]string{
			"Content-Type":     contentTypeProtobuf,
			"Content-Encoding": "gzip",
		})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.NotEmpty(t, decodeStatus(t, encodingProtobuf, body).GetMessage())
	})
	t.Run("unknown encoding", func(t *testing.T) {
		resp, body := post(t, r.client, pathTraces, tracesBody(t, 1, encodingJSON), map[string]string{
			"Content-Type":     contentTypeJSON,
			"Content-Encoding": "br-unknown",
		})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, decodeStatus(t, encodingJSON, body).GetMessage(), "unsupported Content-Encoding")
	})
}

func TestUndecodableBodyIs400WithMessage(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
		t.Run(enc.format(), func(t *testing.T) {
			resp, body := post(t, r.client, pathTraces, []byte("\xff\xff{not otlp"), ctHeader(enc))
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Equal(t, enc.contentType(), resp.Header.Get("Content-Type"))
			st := decodeStatus(t, enc, body)
			assert.Equal(t, int32(codes.InvalidArgument), st.GetCode())
			assert.Contains(t, st.GetMessage(), "cannot decode OTLP "+enc.format())
		})
	}
	assert.Empty(t, ts.AllTraces())
}

// answerEncodings are Content-Type headers of a request and the encoding
// its error answer must come in: protobuf if asked for, JSON otherwise.
var answerEncodings = []struct {
	contentType string
	want        encoding
}{
	{contentTypeProtobuf, encodingProtobuf},
	{contentTypeJSON, encodingJSON},
	{"text/plain", encodingJSON},
	{"", encodingJSON},
}

// requireStatusBody checks that an error answer is a google.rpc.Status in
// the encoding want, with the gRPC code and a message containing msg.
func requireStatusBody(t *testing.T, resp *http.Response, body []byte, want encoding, code codes.Code, msg string) {
	t.Helper()
	require.Equal(t, want.contentType(), resp.Header.Get("Content-Type"), string(body))
	st := decodeStatus(t, want, body)
	assert.Equal(t, int32(code), st.GetCode())
	assert.Contains(t, st.GetMessage(), msg)
}

func TestMethodNotAllowed(t *testing.T) {
	cons, _, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		for _, p := range []string{pathTraces, pathMetrics, pathLogs} {
			for _, ae := range answerEncodings {
				t.Run(method+p+"/"+ae.contentType, func(t *testing.T) {
					resp, body := do(t, r.client, method, p, nil, map[string]string{"Content-Type": ae.contentType})
					require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
					assert.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
					requireStatusBody(t, resp, body, ae.want, codes.Unimplemented, "method "+method+" not allowed, supported: [POST]")
				})
			}
		}
	}
}

func TestUnsupportedMediaType(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	for _, ct := range []string{"text/plain", "", "application/xml", "garbage;;"} {
		t.Run(ct, func(t *testing.T) {
			resp, body := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), map[string]string{"Content-Type": ct})
			require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
			requireStatusBody(t, resp, body, encodingJSON, codes.InvalidArgument,
				"supported: ["+contentTypeJSON+", "+contentTypeProtobuf+"]")
		})
	}
	assert.Empty(t, ts.AllTraces())
}

func TestUnknownPathIs404(t *testing.T) {
	// A receiver with a traces pipeline only: /v1/metrics is as unknown as
	// /v1/profiles. A path that is not in canonical form is answered 404
	// with a status too, never redirected (http.ServeMux would answer 307
	// with an HTML body).
	r := startReceiver(t, testConfig(t), consumers{traces: new(consumertest.TracesSink)})
	for _, p := range []string{"/v1/profiles", pathMetrics, "/", "//v1/traces", "/v1/./traces", "/v1//traces", "/v1/traces/", "/v1%2Ftraces"} {
		for _, ae := range answerEncodings {
			t.Run(p+"/"+ae.contentType, func(t *testing.T) {
				resp, body := post(t, r.client, p, nil, map[string]string{"Content-Type": ae.contentType})
				require.Equal(t, http.StatusNotFound, resp.StatusCode)
				requireStatusBody(t, resp, body, ae.want, codes.Unimplemented, fmt.Sprintf("no OTLP signal at %q, served here: [/v1/traces]", p))
			})
		}
	}
}

func TestBodyTooLargeIs413(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServerConfig.MaxRequestBodySize = 2048
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	big := tracesBody(t, 100, encodingProtobuf)
	require.Greater(t, len(big), 2048)
	const tooLargeMsg = "request body larger than max_request_body_size (2048 bytes)"

	t.Run("plain", func(t *testing.T) {
		resp, body := post(t, r.client, pathTraces, big, ctHeader(encodingProtobuf))
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, tooLargeMsg, decodeStatus(t, encodingProtobuf, body).GetMessage())
	})
	// Every compression: the compressed body fits, the decompressed one
	// does not. For snappy (block format) confighttp's decoder refuses the
	// announced decoded length before decoding, with a 400 the receiver
	// turns into 413 like the others.
	for _, c := range compressors {
		t.Run(c.name+" expanding past the limit", func(t *testing.T) {
			compressed := c.compress(t, big)
			require.Less(t, len(compressed), 2048, "compressed body fits, decompressed does not")
			for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
				resp, body := post(t, r.client, pathTraces, compressed, map[string]string{
					"Content-Type": enc.contentType(), "Content-Encoding": c.name,
				})
				require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(body))
				assert.Equal(t, enc.contentType(), resp.Header.Get("Content-Type"))
				st := decodeStatus(t, enc, body)
				assert.Equal(t, tooLargeMsg, st.GetMessage(), "every layer that notices an oversized body says the same")
				assert.Equal(t, int32(codes.InvalidArgument), st.GetCode())
			}
		})
	}
	t.Run("small body passes", func(t *testing.T) {
		resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	assert.Equal(t, 1, ts.SpanCount())
}

func TestConsumerErrors(t *testing.T) {
	retryInfoErr := func() error {
		st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(retryInfo(7 * time.Second))
		require.NoError(t, err)
		return st.Err()
	}
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantRetry  string
		wantStatus codes.Code
	}{
		{"non-permanent is 503", errors.New("data refused due to high memory usage"), http.StatusServiceUnavailable, "1", codes.Unavailable},
		{"wrapped non-permanent is 503", consumererror.NewRetryableError(errors.New("queue full")), http.StatusServiceUnavailable, "1", codes.Unavailable},
		{"resource exhausted is 429", status.Error(codes.ResourceExhausted, "over quota"), http.StatusTooManyRequests, "1", codes.ResourceExhausted},
		{"retry info is honoured", retryInfoErr(), http.StatusTooManyRequests, "7", codes.ResourceExhausted},
		{"permanent is 400", consumererror.NewPermanent(errors.New("bad data")), http.StatusBadRequest, "", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			// The answer once waiting is over (admission_test.go tests
			// the waits): here nothing waits.
			cfg.Admission.MaxWait = 0
			r := startReceiver(t, cfg, consumers{traces: consumertest.NewErr(tt.err), metrics: consumertest.NewErr(tt.err), logs: consumertest.NewErr(tt.err)})
			for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
				resp, body := post(t, r.client, pathTraces, tracesBody(t, 3, enc), ctHeader(enc))
				require.Equal(t, tt.wantCode, resp.StatusCode)
				assert.Equal(t, tt.wantRetry, resp.Header.Get("Retry-After"))
				st := decodeStatus(t, enc, body)
				assert.Equal(t, int32(tt.wantStatus), st.GetCode())
				assert.NotEmpty(t, st.GetMessage())
			}
			md, err := pmetricotlp.NewExportRequestFromMetrics(testdata.GenerateMetrics(1)).MarshalProto()
			require.NoError(t, err)
			resp, _ := post(t, r.client, pathMetrics, md, ctHeader(encodingProtobuf))
			assert.Equal(t, tt.wantCode, resp.StatusCode)
			ld, err := plogotlp.NewExportRequestFromLogs(testdata.GenerateLogs(1)).MarshalProto()
			require.NoError(t, err)
			resp, _ = post(t, r.client, pathLogs, ld, ctHeader(encodingProtobuf))
			assert.Equal(t, tt.wantCode, resp.StatusCode)

			assert.Equal(t, int64(6), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
			assert.Zero(t, counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
			assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_receiver_refused_log_records", "", ""))
		})
	}
}

func TestRetryAfterIsConfigurable(t *testing.T) {
	cfg := testConfig(t)
	cfg.RetryAfter = 2500 * time.Millisecond
	cfg.Admission.MaxWait = 0 // answered at once
	r := startReceiver(t, cfg, consumers{traces: consumertest.NewErr(errors.New("busy"))})
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
}

func TestPartialSuccess(t *testing.T) {
	rejectHalf := consumer.ConsumeTracesFunc(func(_ context.Context, td ptrace.Traces) error {
		failed := ptrace.NewTraces()
		td.ResourceSpans().At(0).CopyTo(failed.ResourceSpans().AppendEmpty())
		return consumererror.NewPermanent(consumererror.NewTraces(errors.New("destination rejected some spans"), failed))
	})
	tc, err := consumer.NewTraces(rejectHalf)
	require.NoError(t, err)
	rejectMetrics, err := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		failed := pmetric.NewMetrics()
		md.ResourceMetrics().At(0).CopyTo(failed.ResourceMetrics().AppendEmpty())
		return consumererror.NewPermanent(consumererror.NewMetrics(errors.New("some points rejected"), failed))
	})
	require.NoError(t, err)
	rejectLogs, err := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		failed := plog.NewLogs()
		ld.ResourceLogs().At(0).CopyTo(failed.ResourceLogs().AppendEmpty())
		return consumererror.NewPermanent(consumererror.NewLogs(errors.New("some records rejected"), failed))
	})
	require.NoError(t, err)
	r := startReceiver(t, testConfig(t), consumers{traces: tc, metrics: rejectMetrics, logs: rejectLogs})

	// Two resources of 5 spans each: one is rejected.
	td := ptrace.NewTraces()
	for range 2 {
		testdata.GenerateTraces(5).ResourceSpans().At(0).CopyTo(td.ResourceSpans().AppendEmpty())
	}
	for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
		body, err := enc.marshal(ptraceotlp.NewExportRequestFromTraces(td))
		require.NoError(t, err)
		resp, respBody := post(t, r.client, pathTraces, body, ctHeader(enc))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		tr := ptraceotlp.NewExportResponse()
		require.NoError(t, enc.unmarshal(tr, respBody))
		assert.Equal(t, int64(5), tr.PartialSuccess().RejectedSpans())
		assert.Contains(t, tr.PartialSuccess().ErrorMessage(), "destination rejected some spans")
	}
	assert.Equal(t, int64(10), counter(t, r.tt, "otelcol_receiver_accepted_spans", "", ""))
	assert.Equal(t, int64(10), counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))

	md := pmetric.NewMetrics()
	for range 2 {
		testdata.GenerateMetrics(2).ResourceMetrics().At(0).CopyTo(md.ResourceMetrics().AppendEmpty())
	}
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	resp, respBody := post(t, r.client, pathMetrics, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	mr := pmetricotlp.NewExportResponse()
	require.NoError(t, mr.UnmarshalProto(respBody))
	assert.Equal(t, int64(md.DataPointCount()/2), mr.PartialSuccess().RejectedDataPoints())

	ld := plog.NewLogs()
	for range 2 {
		testdata.GenerateLogs(3).ResourceLogs().At(0).CopyTo(ld.ResourceLogs().AppendEmpty())
	}
	body, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	resp, respBody = post(t, r.client, pathLogs, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lr := plogotlp.NewExportResponse()
	require.NoError(t, lr.UnmarshalProto(respBody))
	assert.Equal(t, int64(3), lr.PartialSuccess().RejectedLogRecords())

	// A permanent error naming every item is a plain 400.
	resp, _ = post(t, r.client, pathTraces, tracesBody(t, 4, encodingProtobuf), ctHeader(encodingProtobuf))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// metadataCapture records the client metadata each request reached the
// pipeline with.
type metadataCapture struct {
	got []client.Metadata
}

func (m *metadataCapture) consumer(t testing.TB) consumer.Traces {
	c, err := consumer.NewTraces(func(ctx context.Context, _ ptrace.Traces) error {
		m.got = append(m.got, client.FromContext(ctx).Metadata)
		return nil
	})
	require.NoError(t, err)
	return c
}

// With the default config every request header reaches the pipeline as
// client metadata, whatever its name, so trace_routing finds the routing
// header it is configured for (default cf-trace-config, or any other).
func TestRequestHeadersReachPipeline(t *testing.T) {
	const traceConfig = `{"account":"a1","zone":"z1","workspace":"w1","destinations":["tempo"]}`
	capture := &metadataCapture{}
	r := startReceiver(t, testConfig(t), consumers{traces: capture.consumer(t)})
	req, err := http.NewRequest(http.MethodPost, "http://otlpuds"+pathTraces, bytes.NewReader(tracesBody(t, 1, encodingProtobuf)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentTypeProtobuf)
	req.Header.Set("Cf-Trace-Config", traceConfig)
	req.Header.Set("x-anything", "anything")
	req.Header.Set("X-Routing", "zone=1;account=2")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	resp, err := r.client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// A request without the header carries no value for it.
	resp, _ = post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.Len(t, capture.got, 2)
	md := capture.got[0]
	assert.Equal(t, []string{traceConfig}, md.Get("cf-trace-config"))
	assert.Equal(t, []string{traceConfig}, md.Get("CF-TRACE-CONFIG"), "looked up case-insensitively")
	assert.Equal(t, []string{"anything"}, md.Get("x-anything"))
	assert.Equal(t, []string{"zone=1;account=2"}, md.Get("x-routing"))
	assert.Equal(t, []string{"one", "two"}, md.Get("x-multi"), "every value, in order")
	assert.Equal(t, []string{contentTypeProtobuf}, md.Get("content-type"))
	assert.Nil(t, capture.got[1].Get("cf-trace-config"))
	assert.Nil(t, capture.got[1].Get("x-anything"))
}

// Every signal gets the headers, not only traces.
func TestRequestHeadersReachMetricsAndLogs(t *testing.T) {
	var got []client.Metadata
	metrics, err := consumer.NewMetrics(func(ctx context.Context, _ pmetric.Metrics) error {
		got = append(got, client.FromContext(ctx).Metadata)
		return nil
	})
	require.NoError(t, err)
	logs, err := consumer.NewLogs(func(ctx context.Context, _ plog.Logs) error {
		got = append(got, client.FromContext(ctx).Metadata)
		return nil
	})
	require.NoError(t, err)
	r := startReceiver(t, testConfig(t), consumers{metrics: metrics, logs: logs})
	headers := map[string]string{"Content-Type": contentTypeProtobuf, "cf-trace-config": "zone=1", "x-anything": "a"}
	resp, _ := post(t, r.client, pathMetrics, metricsBody(t), headers)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = post(t, r.client, pathLogs, logsBody(t), headers)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, got, 2)
	for _, md := range got {
		assert.Equal(t, []string{"zone=1"}, md.Get("cf-trace-config"))
		assert.Equal(t, []string{"a"}, md.Get("x-anything"))
	}
}

// include_metadata: false opts out knowingly: no header reaches the
// pipeline, the routing header included (trace_routing then finds none and
// warns once).
func TestIncludeMetadataFalseKeepsNoHeader(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServerConfig.IncludeMetadata = false
	capture := &metadataCapture{}
	r := startReceiver(t, cfg, consumers{traces: capture.consumer(t)})
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), map[string]string{
		"Content-Type":    contentTypeProtobuf,
		"Cf-Trace-Config": "zone=1",
		"X-Anything":      "anything",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, capture.got, 1)
	assert.Nil(t, capture.got[0].Get("cf-trace-config"))
	assert.Nil(t, capture.got[0].Get("x-anything"))
}

func TestSignalWithoutConsumerIs404(t *testing.T) {
	cons, _, _, _ := sinks()
	cons.metrics, cons.logs = nil, nil
	r := startReceiver(t, testConfig(t), cons)
	resp, _ := post(t, r.client, pathLogs, nil, ctHeader(encodingProtobuf))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = post(t, r.client, pathTraces, nil, ctHeader(encodingProtobuf))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func retryInfo(d time.Duration) *errdetails.RetryInfo {
	return &errdetails.RetryInfo{RetryDelay: durationpb.New(d)}
}

func TestBufferGrowsWithArrivedBytes(t *testing.T) {
	const limit = 20<<20 + bytes.MinRead
	assert.Equal(t, int64(2*firstBodyRoom), nextRoom(firstBodyRoom, limit), "doubles once full")
	assert.Equal(t, int64(firstBodyRoom), bufferCeiling(100), "a tiny body still gets the first buffer")
	assert.Equal(t, int64(512<<10), bufferCeiling(336<<10+bytes.MinRead), "rounded up to a pooled size")
	assert.Equal(t, int64(512<<10), nextRoom(256<<10, 336<<10+bytes.MinRead))
	assert.Equal(t, int64(chunkSize), bufferCeiling(limit), "never past a chunk")
	assert.Equal(t, int64(chunkSize), nextRoom(chunkSize, limit))
	for _, size := range []int64{firstBodyRoom, 64 << 10, chunkSize} {
		buf := getBuffer(size)
		assert.Equal(t, int(size), cap(buf.b))
		assert.Zero(t, buf.Len())
		putBuffer(buf)
	}
	assert.Equal(t, -1, poolIndex(limit), "not a pooled size")
	assert.Equal(t, -1, poolIndex(2*chunkSize), "larger than a chunk")
	assert.Equal(t, -1, poolIndex(3<<12), "not a power of two")
}

// A body past chunkSize grows by chunks, never moved, and is copied into
// one piece only once read whole; the chunks go back to the pools.
func TestBufferGrowsInChunksPastChunkSize(t *testing.T) {
	const limit = 3<<20 + 100<<10 + bytes.MinRead
	buf := getBuffer(chunkSize)
	buf.b = buf.b[:chunkSize]
	held, move, room := buf.growth(limit)
	assert.False(t, move, "a full chunk stays where it is")
	assert.Equal(t, int64(chunkSize), room)
	assert.Equal(t, int64(2*chunkSize), held)
	buf.grow(move, room)
	buf.b = buf.b[:chunkSize]
	_, move, room = buf.growth(limit)
	buf.grow(move, room)
	buf.b = buf.b[:chunkSize]
	held, move, room = buf.growth(limit)
	assert.False(t, move)
	assert.Equal(t, int64(128<<10), room, "the last chunk is sized for what the limit leaves")
	assert.Equal(t, int64(3*chunkSize+128<<10), held)
	buf.grow(move, room)
	buf.b = append(buf.b, make([]byte, 100<<10)...)
	for i, c := range buf.chunks {
		c[0] = byte(i + 1)
	}
	size := int64(3*chunkSize + 100<<10)
	assert.Equal(t, size, buf.size())
	assert.Equal(t, held+size, buf.joinedSize(), "the chunks and the piece they are joined into")
	buf.join()
	assert.Nil(t, buf.chunks)
	assert.Equal(t, int(size), buf.Len())
	assert.Equal(t, size, buf.held)
	for i := range 3 {
		assert.Equal(t, byte(i+1), buf.Bytes()[i*chunkSize], "chunk %d in its place", i)
	}
}
