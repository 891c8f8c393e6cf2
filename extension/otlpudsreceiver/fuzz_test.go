package otlpudsreceiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

// FuzzHandlers feeds arbitrary bodies to the three signal handlers: they
// never panic and answer 200 or 400 with a decodable status.
func FuzzHandlers(f *testing.F) {
	tb, err := ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(2)).MarshalProto()
	require.NoError(f, err)
	tj, err := ptraceotlp.NewExportRequestFromTraces(testdata.GenerateTraces(2)).MarshalJSON()
	require.NoError(f, err)
	mb, err := pmetricotlp.NewExportRequestFromMetrics(testdata.GenerateMetrics(2)).MarshalProto()
	require.NoError(f, err)
	lj, err := plogotlp.NewExportRequestFromLogs(testdata.GenerateLogs(2)).MarshalJSON()
	require.NoError(f, err)
	for _, seed := range [][]byte{tb, tj, mb, lj, nil, {0x0a}, []byte("{"), []byte(`{"resourceSpans":[{}]}`)} {
		f.Add(seed, false)
		f.Add(seed, true)
	}

	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "/unused"
	cfg.PeerAttributes = true
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(f, err)
	r.nextTraces, r.nextMetrics, r.nextLogs = consumertest.NewNop(), consumertest.NewNop(), consumertest.NewNop()
	handlers := []http.HandlerFunc{r.handleTraces, r.handleMetrics, r.handleLogs}

	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		enc := encodingProtobuf
		if asJSON {
			enc = encodingJSON
		}
		for _, h := range handlers {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", enc.contentType())
			w := httptest.NewRecorder()
			h(w, req)
			switch w.Code {
			case http.StatusOK:
			case http.StatusBadRequest:
				decodeStatus(t, enc, w.Body.Bytes())
			default:
				t.Fatalf("unexpected status %d", w.Code)
			}
		}
	})
}
