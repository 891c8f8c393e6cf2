package e2e

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracebound/tracebound/testbed/collector"
	"github.com/tracebound/tracebound/testbed/mockbackend"
)

// drainTraces builds one foundations-shaped request (see foundationsTraces)
// whose span IDs are unique across the whole test: request seq's span i has
// span ID {seq (4 bytes), i (2 bytes), 0xd0, 0x1d}.
func drainTraces(seq uint32, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Now()
	for i := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", foundationsService)
		rs.Resource().Attributes().PutStr("service.version", foundationsVersion)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		var id pcommon.SpanID
		binary.BigEndian.PutUint32(id[:4], seq)
		binary.BigEndian.PutUint16(id[4:6], uint16(i))
		id[6], id[7] = 0xd0, 0x1d
		s.SetSpanID(id)
		s.SetTraceID(pcommon.TraceID{0xd0, id[0], id[1], id[2], id[3], id[4], id[5], 1, 2, 3, 4, 5, 6, 7, 8, 9})
		s.SetName("drain")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
	}
	return td
}

// drainWarnings reads the destinations exporter's shutdown warnings from the
// collector's log (console encoding, see routingWarnings), by destination.
func drainWarnings(t *testing.T, p *collector.Process) map[string][]map[string]any {
	t.Helper()
	data, err := os.ReadFile(p.LogPath)
	require.NoError(t, err)
	out := map[string][]map[string]any{}
	for line := range strings.SplitSeq(string(data), "\n") {
		parts := strings.SplitN(line, "\t", 5)
		if len(parts) < 5 || parts[1] != "warn" || !strings.HasPrefix(parts[3], "Shutdown drain ran out of time") {
			continue
		}
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(parts[4]), &fields), line)
		dest, _ := fields["destination"].(string)
		out[dest] = append(out[dest], fields)
	}
	return out
}

// TestSIGTERMDeliversWhatWasAnswered is issue 11's "a SIGTERM during load
// loses nothing that was answered 2xx while destinations are reachable",
// through the built binary on configs/gateway.yaml (its default
// drain_timeout, 10s). Producers modelled on foundations (a new connection
// per request, no retry) send steadily, half of the requests routed to tempo
// and vendor (account 42), half to tempo and audit (account 7). vendor is
// reachable but slow (2.5 s per request, so its queue and consumers hold
// seconds of data at any time); audit is down (nothing listens). SIGTERM
// comes during the load: the collector exits by itself, and every span it
// answered 2xx has reached tempo and vendor exactly once, though vendor had
// not received it all when the signal came; audit's spans, all of them, are
// counted in the one warning for audit; tempo and vendor get none.
func TestSIGTERMDeliversWhatWasAnswered(t *testing.T) {
	names := []string{"tempo", "vendor"}
	backends := map[string]*mockbackend.Backend{}
	got := map[string]*arrivals{}
	for _, name := range names {
		got[name] = &arrivals{spans: map[pcommon.SpanID][]arrival{}}
		backends[name] = startBackend(t, mockbackend.Options{Name: name, OnTraces: got[name].record})
	}
	backends["vendor"].SetDelay(2500 * time.Millisecond)
	downPort, err := collector.FreePort()
	require.NoError(t, err)
	t.Setenv("AUDIT_ENDPOINT", "http://127.0.0.1:"+strconv.Itoa(downPort)) // nothing listens
	p, socket, _ := startGateway(t, backends)

	routes := []struct {
		header string
		to     []string
	}{
		{`{"zoneId":12345,"accountId":42}`, []string{"tempo", "vendor"}},
		{"zone=9;account=7", []string{"tempo", "audit"}},
	}
	const producers, spansPer = 4, 64
	var (
		mu       sync.Mutex
		want     = map[string]map[pcommon.SpanID]bool{"tempo": {}, "vendor": {}, "audit": {}}
		refused  int
		seq      atomic.Uint32
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		answered atomic.Int64
	)
	for range producers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				r := routes[n%2]
				td := drainTraces(n, spansPer)
				status, _, err := foundationsPost(socket, td, r.header)
				if err != nil {
					return // the collector stopped listening
				}
				if status < 200 || status > 299 {
					mu.Lock()
					refused++
					mu.Unlock()
					continue // foundations does not retry: lost, and not ours to deliver
				}
				mu.Lock()
				for _, rs := range td.ResourceSpans().All() {
					id := rs.ScopeSpans().At(0).Spans().At(0).SpanID()
					for _, d := range r.to {
						want[d][id] = true
					}
				}
				mu.Unlock()
				answered.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	require.Eventually(t, func() bool { return answered.Load() >= 100 }, 20*time.Second, 50*time.Millisecond,
		"the producers are answered")
	time.Sleep(3 * time.Second) // steady load; vendor falls behind
	mu.Lock()
	vendorAnswered := len(want["vendor"])
	mu.Unlock()
	vendorAtSignal := backends["vendor"].Spans()

	start := time.Now()
	require.NoError(t, p.Stop(30*time.Second), "the collector exits by itself after SIGTERM")
	t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	assert.NoError(t, p.ExitErr(), "clean exit status")
	close(stop)
	wg.Wait()

	require.Less(t, vendorAtSignal, int64(vendorAnswered),
		"vendor had not received everything answered 2xx when SIGTERM came: the drain had work to do")
	t.Logf("answered 2xx: tempo %d, vendor %d (%d at SIGTERM, %d delivered then), audit %d spans; refused %d requests",
		len(want["tempo"]), len(want["vendor"]), vendorAnswered, vendorAtSignal, len(want["audit"]), refused)

	for _, name := range names {
		arrived := got[name].snapshot()
		missing, twice := 0, 0
		for id := range want[name] {
			switch n := len(arrived[id]); {
			case n == 0:
				missing++
			case n > 1:
				twice++
			}
		}
		assert.Zero(t, missing, "%s: spans answered 2xx that never arrived", name)
		assert.Zero(t, twice, "%s: spans that arrived more than once", name)
		assert.Len(t, arrived, len(want[name]), "%s: nothing arrives that was not answered 2xx", name)
	}

	warnings := drainWarnings(t, p)
	assert.Empty(t, warnings["tempo"], "tempo lost nothing")
	assert.Empty(t, warnings["vendor"], "vendor, slow but reachable, lost nothing")
	if assert.Len(t, warnings["audit"], 1, "one warning for audit, which is down") {
		assert.EqualValues(t, len(want["audit"]), warnings["audit"][0]["spans"], "every span answered 2xx for audit is counted")
		assert.Equal(t, "10s", warnings["audit"][0]["drain_timeout"])
	}
}
