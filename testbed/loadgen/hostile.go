package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Hostile requests: what a broken or malicious sender on the same socket
// sends beside the well-behaved producers (issue 11's goals for decompression
// bombs and poison).

// ZstdBomb returns a zstd body of a few kilobytes that inflates to
// inflated bytes of zeros. With declared, its frame header says so (as an
// encoder given the whole content at once writes it), and a collector may
// refuse it from its first bytes; without, as a streaming encoder writes
// it, a collector learns it is past max_request_body_size only after
// decompressing that far.
func ZstdBomb(inflated int, declared bool) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		return nil, err
	}
	if declared {
		enc.ResetContentSize(&buf, int64(inflated))
	}
	if _, err := enc.Write(make([]byte, inflated)); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PoisonJSON returns an OTLP/JSON trace request of one span of service
// whose attribute "deep" holds key-value lists nested depth levels: valid
// JSON that pdata's JSON decoder accepts, but whose protobuf encoding
// pdata's protobuf decoder (a backend's, or the next collector's) refuses
// past 100 levels.
func PoisonJSON(depth int, service string) []byte {
	var tid [16]byte
	var sid [8]byte
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},`+
		`"scopeSpans":[{"spans":[{"traceId":%q,"spanId":%q,"name":"poison","kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2",`+
		`"attributes":[{"key":"deep","value":`, service, hex.EncodeToString(tid[:]), hex.EncodeToString(sid[:]))
	for range depth {
		b.WriteString(`{"kvlistValue":{"values":[{"key":"k","value":`)
	}
	b.WriteString(`{"stringValue":"bottom"}`)
	for range depth {
		b.WriteString(`}]}}`)
	}
	b.WriteString(`}]}]}]}]}`)
	return b.Bytes()
}

// Barrage is a hostile sender: Senders goroutines, each posting Body again
// and again (a new connection each time, like the producer mode) until the
// context ends, Pause apart.
type Barrage struct {
	Endpoint string
	Body     []byte
	// Bodies, when set, are sent instead of Body: sender i sends
	// Bodies[i % len(Bodies)].
	Bodies [][]byte
	JSON   bool
	// Headers are sent with every request (Content-Encoding for a bomb, the
	// same trace config as the good traffic, so that nothing but the body
	// tells the two apart).
	Headers map[string]string
	Senders int
	Pause   time.Duration
	Timeout time.Duration
}

// BarrageStats counts a barrage's answers by HTTP status (0: no answer).
type BarrageStats struct {
	Requests int64         `json:"requests"`
	Statuses map[int]int64 `json:"statuses"`
	// Rejected sums the partial-success rejected spans of 200 answers.
	Rejected int64 `json:"rejected"`
}

// Run sends until ctx ends and returns the answers.
func (b Barrage) Run(ctx context.Context) BarrageStats {
	c := newProducerClient(b.Endpoint, b.Timeout)
	defer c.Close()
	var mu sync.Mutex
	st := BarrageStats{Statuses: map[int]int64{}}
	var rejected atomic.Int64
	var wg sync.WaitGroup
	for i := range b.Senders {
		body := b.Body
		if len(b.Bodies) > 0 {
			body = b.Bodies[i%len(b.Bodies)]
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				res := c.Post(ctx, body, b.JSON, b.Headers)
				if ctx.Err() != nil && res.Status == 0 {
					return // cut by the end of the barrage, not answered
				}
				rejected.Add(res.Rejected)
				mu.Lock()
				st.Requests++
				st.Statuses[res.Status]++
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(b.Pause):
				}
			}
		})
	}
	wg.Wait()
	st.Rejected = rejected.Load()
	return st
}
