package otlpudsreceiver

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/tracebound/tracebound/extension/otlpudsreceiver/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	assert.Equal(t, metadata.MetricsStability, f.MetricsStability())
	assert.Equal(t, metadata.LogsStability, f.LogsStability())
}

// TestOneReceiverServesAllSignals checks that the three pipelines of one
// config share one socket, started and stopped once.
func TestOneReceiverServesAllSignals(t *testing.T) {
	cfg := testConfig(t)
	set := receivertest.NewNopSettings(metadata.Type)
	f := NewFactory()
	tr, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	mr, err := f.CreateMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	lr, err := f.CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.Same(t, tr, mr)
	assert.Same(t, tr, lr)

	host := componenttest.NewNopHost()
	require.NoError(t, tr.Start(context.Background(), host))
	require.NoError(t, mr.Start(context.Background(), host))
	require.NoError(t, lr.Start(context.Background(), host))

	c := udsClient(t, cfg.ServerConfig.NetAddr.Endpoint)
	for _, p := range []string{pathTraces, pathMetrics, pathLogs} {
		resp, _ := post(t, c, p, nil, ctHeader(encodingProtobuf))
		assert.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	c.CloseIdleConnections()

	require.NoError(t, tr.Shutdown(context.Background()))
	require.NoError(t, mr.Shutdown(context.Background()))
	require.NoError(t, lr.Shutdown(context.Background()))
	_, err = os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.ErrorIs(t, err, fs.ErrNotExist)

	// After shutdown the same config builds a fresh receiver.
	tr2, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	assert.NotSame(t, tr, tr2)
	require.NoError(t, tr2.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	cons, _, _, _ := sinks()
	comp, _ := createReceiver(t, testConfig(t), cons)
	require.NoError(t, comp.Shutdown(context.Background()))
}

// blockingTraces holds every request until released.
type blockingTraces struct {
	entered chan struct{}
	release chan struct{}
	sink    consumertest.TracesSink
}

func (b *blockingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	b.entered <- struct{}{}
	<-b.release
	return b.sink.ConsumeTraces(ctx, td)
}

func (*blockingTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func TestShutdownFinishesInFlightRequest(t *testing.T) {
	cfg := testConfig(t)
	path := cfg.ServerConfig.NetAddr.Endpoint
	block := &blockingTraces{entered: make(chan struct{}, 1), release: make(chan struct{})}
	comp, _ := createReceiver(t, cfg, consumers{traces: block})
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	c := udsClient(t, path)

	type answer struct {
		code int
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, "http://otlpuds"+pathTraces, bytesReader(tracesBody(t, 4, encodingProtobuf)))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		req.Header.Set("Content-Type", contentTypeProtobuf)
		resp, err := c.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		_ = resp.Body.Close()
		answered <- answer{code: resp.StatusCode}
	}()
	<-block.entered // the request is now in the pipeline

	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- comp.Shutdown(context.Background()) }()

	// The receiver stops accepting new connections while the request runs.
	require.Eventually(t, func() bool {
		conn, err := net.Dial("unix", path)
		if err == nil {
			_ = conn.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist)
	}, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-shutdownDone:
		t.Fatalf("shutdown returned (%v) before the request in flight finished", err)
	default:
	}

	close(block.release)
	a := <-answered
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code, "the request in flight completes")
	assert.Equal(t, 4, block.sink.SpanCount())
	select {
	case err := <-shutdownDone:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not return after the request finished")
	}
	_, err := os.Lstat(path)
	require.ErrorIs(t, err, fs.ErrNotExist, "socket file removed after shutdown")
}

func TestShutdownDeadlineCutsStuckRequests(t *testing.T) {
	cfg := testConfig(t)
	block := &blockingTraces{entered: make(chan struct{}, 1), release: make(chan struct{})}
	comp, _ := createReceiver(t, cfg, consumers{traces: block})
	require.NoError(t, comp.Start(context.Background(), componenttest.NewNopHost()))
	c := udsClient(t, cfg.ServerConfig.NetAddr.Endpoint)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, "http://otlpuds"+pathTraces, bytesReader(tracesBody(t, 1, encodingProtobuf)))
		req.Header.Set("Content-Type", contentTypeProtobuf)
		if resp, err := c.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-block.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := comp.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, statErr := os.Lstat(cfg.ServerConfig.NetAddr.Endpoint)
	require.ErrorIs(t, statErr, fs.ErrNotExist)
	close(block.release) // let the handler goroutine end
	<-done
}
