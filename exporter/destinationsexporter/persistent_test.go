package destinationsexporter

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/tracebound/tracebound/exporter/destinationsexporter/internal/metadatatest"
)

// memStorage is a storage extension whose data outlives the exporters that
// use it, as a file_storage folder outlives a process: one map per client
// name, kept across "restarts".
type memStorage struct {
	component.StartFunc
	component.ShutdownFunc

	mu      sync.Mutex
	clients map[string]*memClient
}

func (s *memStorage) GetClient(_ context.Context, _ component.Kind, id component.ID, name string) (storage.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := id.String() + "/" + name
	if s.clients[key] == nil {
		s.clients[key] = &memClient{data: map[string][]byte{}}
	}
	return s.clients[key], nil
}

type memClient struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (c *memClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *memClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *memClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *memClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = append([]byte(nil), c.data[op.Key]...)
			if _, ok := c.data[op.Key]; !ok {
				op.Value = nil
			}
		case storage.Set:
			c.data[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(c.data, op.Key)
		}
	}
	return nil
}

func (*memClient) Close(context.Context) error { return nil }

// storageHost is a host with one extension.
type storageHost struct {
	id  component.ID
	ext component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{h.id: h.ext}
}

// A persistent queue is not drained at shutdown: it keeps what it holds for
// the next start. A request in flight that drain_timeout abandons stays in
// storage too (it is not counted lost, not warned), and the next start
// delivers every span, the abandoned one included.
func TestShutdownKeepsAbandonedRequestsInPersistentQueue(t *testing.T) {
	storageID := component.MustNewIDWithName("file_storage", "archive")
	store := &memStorage{clients: map[string]*memClient{}}
	host := storageHost{id: storageID, ext: store}

	hanging, g, hangingCfg := newGatedDestination(t)
	hangingCfg.QueueConfig.Get().StorageID = &storageID
	cfg := createDefaultConfig().(*Config)
	cfg.DrainTimeout = 500 * time.Millisecond
	cfg.Destinations = map[string]*otlphttpexporter.Config{"archive": hangingCfg}
	require.NoError(t, cfg.Validate())

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))

	const requests, spansPer = 3, 5
	for range requests {
		require.NoError(t, exp.ConsumeTraces(context.Background(), newTraces(resourceSpec{to: "archive", spans: spansPer})))
	}
	require.Eventually(t, func() bool { return g.arrived.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Zero(t, hanging.spanCount())
	assert.Zero(t, counter(t, tel, metricLost, "destination", "archive"), "kept in storage, not lost")
	assert.Equal(t, int64(spansPer), counter(t, tel, "otelcol_exporter_send_failed_spans",
		"exporter", "otlp_http/archive", "error.type", "Shutdown"), "the request in flight was abandoned")

	// The next start, with the backend reachable, delivers all of it.
	healthy := newBackend(t, http.StatusOK, nil)
	restartCfg := createDefaultConfig().(*Config)
	again := destinationConfig(healthy.srv.URL)
	again.QueueConfig.Get().StorageID = &storageID
	restartCfg.Destinations = map[string]*otlphttpexporter.Config{"archive": again}
	tel2 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel2.Shutdown(context.Background())) })
	exp2, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tel2), restartCfg)
	require.NoError(t, err)
	require.NoError(t, exp2.Start(context.Background(), host))
	require.Eventually(t, func() bool { return healthy.spanCount() == requests*spansPer }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, exp2.Shutdown(context.Background()))
	assert.Equal(t, requests, healthy.requestCount(), "each request once")
}
