package otlpudsreceiver

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/pdata/testdata"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadatatest"
)

func TestPeerAllowedByUID(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedUIDs = []uint32{uint32(os.Getuid())}
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, ts.SpanCount())
	assert.Zero(t, counter(t, r.tt, "otelcol_otlpuds_peers_refused", "", ""))
}

func TestPeerAllowedByGID(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedUIDs = []uint32{uint32(os.Getuid()) + 1}
	cfg.AllowedGIDs = []uint32{uint32(os.Getgid())}
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, ts.SpanCount())
}

func TestPeerRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.AllowedUIDs = []uint32{uint32(os.Getuid()) + 1}
	cfg.AllowedGIDs = []uint32{uint32(os.Getgid()) + 1}
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)
	for _, enc := range []encoding{encodingProtobuf, encodingJSON} {
		resp, body := post(t, r.client, pathTraces, tracesBody(t, 2, enc), ctHeader(enc))
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		st := decodeStatus(t, enc, body)
		assert.Contains(t, st.GetMessage(), fmt.Sprintf("peer uid %d", os.Getuid()))
	}
	assert.Zero(t, ts.SpanCount())
	metadatatest.AssertEqualOtlpudsPeersRefused(t, r.tt,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdataIgnoreTime()...)
	// Refused requests never reach the pipeline, so no receiver counts.
	assert.Zero(t, counter(t, r.tt, "otelcol_receiver_refused_spans", "", ""))
}

func TestPeerAttributes(t *testing.T) {
	cfg := testConfig(t)
	cfg.PeerAttributes = true
	cons, ts, ms, ls := sinks()
	r := startReceiver(t, cfg, cons)

	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 2, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, ts.AllTraces(), 1)
	rss := ts.AllTraces()[0].ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		assertPeerAttrs(t, rss.At(i).Resource().Attributes(), os.Getpid(), os.Getuid(), os.Getgid())
	}

	resp, _ = post(t, r.client, pathMetrics, metricsBody(t), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, ms.AllMetrics(), 1)
	assertPeerAttrs(t, ms.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes(), os.Getpid(), os.Getuid(), os.Getgid())

	resp, _ = post(t, r.client, pathLogs, logsBody(t), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, ls.AllLogs(), 1)
	assertPeerAttrs(t, ls.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes(), os.Getpid(), os.Getuid(), os.Getgid())
}

func TestNoPeerAttributesByDefault(t *testing.T) {
	cons, ts, _, _ := sinks()
	r := startReceiver(t, testConfig(t), cons)
	resp, _ := post(t, r.client, pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, found := ts.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().Get(attrPeerPID)
	assert.False(t, found)
}

func assertPeerAttrs(t *testing.T, attrs pcommon.Map, pid, uid, gid int) {
	t.Helper()
	for key, want := range map[string]int{attrPeerPID: pid, attrPeerUID: uid, attrPeerGID: gid} {
		v, ok := attrs.Get(key)
		require.True(t, ok, key)
		require.Equal(t, pcommon.ValueTypeInt, v.Type(), key)
		assert.Equal(t, int64(want), v.Int(), key)
	}
}

// helperPostEnv makes the re-executed test binary post one trace request
// to the socket it names and print the answer's status code.
const helperPostEnv = "OTLPUDS_TEST_HELPER_POST"

// TestHelperPoster is not a test: it is the child process of
// TestPeerOfAnotherUser.
func TestHelperPoster(t *testing.T) {
	path := os.Getenv(helperPostEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	resp, _ := post(t, udsClient(t, path), pathTraces, tracesBody(t, 1, encodingProtobuf), ctHeader(encodingProtobuf))
	fmt.Printf("status=%d\n", resp.StatusCode)
}

// TestPeerOfAnotherUser sends from a process running as another user
// (nobody, 65534): refused when only root is allowed, stamped with its own
// uid when allowed.
func TestPeerOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a child process as another user")
	}
	// The child runs as nobody: it needs its own readable copy of the test
	// binary and a path it may traverse.
	dir := shortTempDir(t)
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "t.test")
	copyFile(t, os.Args[0], bin, 0o755)

	runChild := func(socket string) string {
		cmd := exec.Command(bin, "-test.run=^TestHelperPoster$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperPostEnv+"="+socket)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "status="); ok {
				return s
			}
		}
		t.Fatalf("child printed no status: %s", out)
		return ""
	}

	t.Run("refused", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(dir, "refused.sock")
		cfg.SocketMode = "0666"
		cfg.AllowedUIDs = []uint32{0}
		cons, ts, _, _ := sinks()
		r := startReceiver(t, cfg, cons)
		assert.Equal(t, "403", runChild(cfg.ServerConfig.NetAddr.Endpoint))
		assert.Zero(t, ts.SpanCount())
		assert.Equal(t, int64(1), counter(t, r.tt, "otelcol_otlpuds_peers_refused", "", ""))
	})
	t.Run("allowed and stamped", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(dir, "allowed.sock")
		cfg.SocketMode = "0666"
		cfg.AllowedUIDs = []uint32{0, 65534}
		cfg.PeerAttributes = true
		cons, ts, _, _ := sinks()
		startReceiver(t, cfg, cons)
		assert.Equal(t, "200", runChild(cfg.ServerConfig.NetAddr.Endpoint))
		require.Len(t, ts.AllTraces(), 1)
		attrs := ts.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes()
		uid, _ := attrs.Get(attrPeerUID)
		gid, _ := attrs.Get(attrPeerGID)
		pid, _ := attrs.Get(attrPeerPID)
		assert.Equal(t, int64(65534), uid.Int())
		assert.Equal(t, int64(65534), gid.Int())
		assert.NotEqual(t, int64(os.Getpid()), pid.Int())
	})
	t.Run("socket mode keeps others out", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.ServerConfig.NetAddr.Endpoint = filepath.Join(dir, "closed.sock")
		cfg.SocketMode = "0660" // nobody is neither owner nor in group root
		cons, _, _, _ := sinks()
		startReceiver(t, cfg, cons)
		cmd := exec.Command(bin, "-test.run=^TestHelperPoster$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperPostEnv+"="+cfg.ServerConfig.NetAddr.Endpoint)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "connect must fail with permission denied")
		assert.Contains(t, string(out), "permission denied")
	})
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// TestPeerAttributesCannotBeSpoofed sends resources that already claim peer
// attributes: the kernel's values replace them.
func TestPeerAttributesCannotBeSpoofed(t *testing.T) {
	cfg := testConfig(t)
	cfg.PeerAttributes = true
	cons, ts, _, _ := sinks()
	r := startReceiver(t, cfg, cons)

	td := testdata.GenerateTraces(1)
	attrs := td.ResourceSpans().At(0).Resource().Attributes()
	attrs.PutInt(attrPeerUID, 4242)
	attrs.PutStr(attrPeerGID, "root")
	attrs.PutInt(attrPeerPID, 1)
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, r.client, pathTraces, body, ctHeader(encodingProtobuf))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, ts.AllTraces(), 1)
	assertPeerAttrs(t, ts.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes(), os.Getpid(), os.Getuid(), os.Getgid())
}
