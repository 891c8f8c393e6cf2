package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/golang/snappy"
)

// bodyEstimate is what a request is charged at admission, before its body
// is read.
type bodyEstimate struct {
	// allowance is the decompressor's own memory besides the decoded body.
	allowance int64
	// transient is the part of allowance freed once the body is read
	// (a zstd decoder goes back to confighttp's pool when the body is
	// closed; other decompressors live as long as the request).
	transient int64
	// body is the room the decoded body may fill before it is charged
	// more: the whole body when its size is known (Content-Length, no
	// compression), else a first estimate that grows as it is read.
	body int64
	// waitBytes is what the request counts in the waiting room while it
	// waits to be admitted: its body as sent (Content-Length), or
	// max_request_body_size when it announces none.
	waitBytes int64
}

// snappyFramingHeader starts a body in snappy's framed format, which
// confighttp's "snappy" decoder reads too.
var snappyFramingHeader = []byte("\xff\x06\x00\x00sNaPpY")

// estimateBody computes a request's charge from its headers (and, for a
// snappy block, the decoded length at the start of the body).
func (r *udsReceiver) estimateBody(req *http.Request) bodyEstimate {
	wire := req.ContentLength
	if wire == 0 || req.Body == nil || req.Body == http.NoBody {
		return bodyEstimate{}
	}
	waitBytes := r.maxBodySize
	if wire > 0 {
		waitBytes = min(wire, r.maxBodySize)
	}
	enc := req.Header.Get("Content-Encoding")
	if enc == "" || enc == "identity" {
		if wire > 0 {
			// The whole body, charged once: it never waits while read.
			return bodyEstimate{body: bodyLimit(wire, r.maxBodySize), waitBytes: waitBytes}
		}
		return bodyEstimate{body: firstBodyCharge, waitBytes: waitBytes}
	}
	// Compressed: the decoded size is unknown; at least as large as the
	// compressed body, most likely.
	est := bodyEstimate{
		body:      min(bodyLimit(-1, r.maxBodySize), max(firstBodyCharge, wire)),
		waitBytes: waitBytes,
	}
	switch enc {
	case "gzip", "zlib", "deflate":
		est.allowance = flateAllowance
	case "x-snappy-framed":
		est.allowance = snappyFramedAllowance
	case "lz4":
		est.allowance = lz4Allowance
	case "zstd":
		est.allowance = min(max(zstdMinWindow, r.maxBodySize), zstdMaxWindow) + zstdBlockSlack
		est.transient = est.allowance
	case "snappy":
		est.allowance, est.transient = r.snappyAllowance(req, wire)
	}
	// Any other encoding is refused by confighttp before a byte is read.
	return est
}

// snappyAllowance peeks at a "snappy" body: confighttp reads a block
// (not framed) whole and decodes it in one allocation of the length the
// block announces, before the handler reads a byte. That decoded copy
// lives as long as the request; the compressed one only until decoded.
func (r *udsReceiver) snappyAllowance(req *http.Request, wire int64) (allowance, transient int64) {
	br := bufio.NewReaderSize(req.Body, 16)
	req.Body = peekedBody{Reader: br, Closer: req.Body}
	head, _ := br.Peek(len(snappyFramingHeader))
	if bytes.Equal(head, snappyFramingHeader) {
		return snappyFramedAllowance, 0
	}
	decoded, err := snappy.DecodedLen(head)
	if err != nil || int64(decoded) > r.maxBodySize {
		// Refused by confighttp before it decodes anything.
		return 0, 0
	}
	compressed := r.maxBodySize
	if wire > 0 {
		compressed = min(wire, r.maxBodySize)
	}
	return compressed + int64(decoded), compressed
}

// peekedBody is a request body read through the buffer that peeked at it.
type peekedBody struct {
	io.Reader
	io.Closer
}

// bodyLimit is the most a body buffer may need: the body (its announced
// length, or max_request_body_size) and room to see one byte too many.
func bodyLimit(contentLength, maxBodySize int64) int64 {
	if contentLength >= 0 {
		return min(contentLength, maxBodySize) + bytes.MinRead
	}
	return maxBodySize + bytes.MinRead
}

// admissionError is a body read stopped for lack of room in flight.
type admissionError struct{ why refusal }

func (e *admissionError) Error() string {
	return fmt.Sprintf("no room for the body in flight: %s", e.why)
}

// readBody reads the whole (already decompressed) body into a pooled
// buffer. The buffer grows as bytes arrive (from at most maxPreGrow ahead
// of an announced Content-Length, doubling), and every byte of room is
// charged to the request's ticket before it is read into: a body of
// unknown size asks for more room as it grows, and waits for it when the
// budget is spent (the oldest request still reading never waits).
func (r *udsReceiver) readBody(ctx context.Context, body io.Reader, t *ticket, contentLength int64) (*bodyBuffer, error) {
	buf := getBuffer()
	if contentLength == 0 {
		return buf, nil
	}
	b := buf.b
	limit := bodyLimit(contentLength, r.maxBodySize)
	room := t.bodyRoom()
	if room < 0 {
		room = limit
	}
	if n := preGrowSize(contentLength, r.maxBodySize); cap(b) < n {
		b = make([]byte, 0, n)
	}
	for {
		if int64(len(b)) >= room {
			if room >= limit {
				// The body layers stop a body past the limit before
				// this; keep the buffer bounded even so.
				buf.b = b
				putBuffer(buf)
				return nil, &http.MaxBytesError{Limit: r.maxBodySize}
			}
			want := min(limit, max(2*room, room+firstBodyCharge))
			if why := t.growBody(ctx, want); why != refusalNone {
				buf.b = b
				putBuffer(buf)
				return nil, &admissionError{why: why}
			}
			room = want
		}
		if len(b) == cap(b) {
			newCap := min(room, max(2*int64(cap(b)), int64(len(b))+firstBodyCharge))
			grown := make([]byte, len(b), newCap)
			copy(grown, b)
			b = grown
		}
		n, err := body.Read(b[len(b):min(int64(cap(b)), room)])
		b = b[:len(b)+n]
		if err == io.EOF {
			buf.b = b
			return buf, nil
		}
		if err != nil {
			buf.b = b
			putBuffer(buf)
			return nil, err
		}
	}
}
