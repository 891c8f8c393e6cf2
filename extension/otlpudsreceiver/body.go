package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
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
	// body is the buffer the decoded body starts in (firstBodyRoom),
	// whatever its announced length: the buffer grows, and is charged
	// more, only as bytes arrive (readBody).
	body int64
	// waitBytes is what the request counts in the waiting room while it
	// waits to be admitted: its body as sent (Content-Length), or
	// max_request_body_size when it announces none.
	waitBytes int64
	// kind says whether the body's size is known: a plain body with a
	// Content-Length (admissionrule.go).
	kind requestKind
	// tooLarge is true when the body declares, before any of it is
	// decoded, a decoded size over max_request_body_size: it is answered
	// 413 without being decoded, and charged nothing.
	tooLarge bool
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
	est := bodyEstimate{body: firstBodyRoom, waitBytes: r.maxBodySize, kind: unknownSize}
	if wire > 0 {
		est.waitBytes = min(wire, r.maxBodySize)
	}
	encoding := req.Header.Get("Content-Encoding")
	if wire > 0 && (encoding == "" || encoding == "identity") {
		est.kind = knownSize
	}
	switch encoding {
	case "gzip", "zlib", "deflate":
		est.allowance = flateAllowance
	case "x-snappy-framed":
		est.allowance = snappyFramedAllowance
	case "lz4":
		est.allowance = lz4Allowance
	case "zstd":
		if r.zstdTooLarge(req) {
			return bodyEstimate{tooLarge: true}
		}
		est.allowance = min(max(zstdMinWindow, r.maxBodySize), zstdMaxWindow) + zstdBlockSlack
		est.transient = est.allowance
	case "snappy":
		est.allowance, est.transient = r.snappyAllowance(req, wire)
	}
	// No decoder for a plain body; any other encoding is refused by
	// confighttp before a byte is read.
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

// zstdTooLarge peeks at a "zstd" body's first frame header: a frame that
// declares its Frame_Content_Size over max_request_body_size is refused
// before a byte of it is decoded, rather than decoded up to the limit (and
// its decoder's window allocated) to learn what it said. A frame without
// the field (a streaming encoder's), a skippable frame or anything the
// header parser does not take is left to the decoder and the body limit.
//
// The decoder's allowance stays the largest window confighttp lets a frame
// declare, not this frame's: the body may hold further frames, each
// declaring its own window, which the decoder takes without the admission
// seeing them.
func (r *udsReceiver) zstdTooLarge(req *http.Request) bool {
	br := bufio.NewReaderSize(req.Body, zstdFrameHeaderMax)
	req.Body = peekedBody{Reader: br, Closer: req.Body}
	head, _ := br.Peek(zstdFrameHeaderMax)
	var h zstd.Header
	if h.Decode(head) != nil || !h.HasFCS {
		return false
	}
	return h.FrameContentSize > uint64(r.maxBodySize)
}

// zstdFrameHeaderMax is the longest zstd frame header: magic number (4),
// descriptor (1), window (1), dictionary ID (4) and content size (8).
const zstdFrameHeaderMax = 18

// peekedBody is a request body read through the buffer that peeked at it.
type peekedBody struct {
	io.Reader
	io.Closer
}

// bodyLimit is the most a body may need: the body (its announced
// length, or max_request_body_size) and room to see one byte too many. It
// caps the buffer; it never sizes one.
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

// readBody reads the whole (already decompressed) body into pooled
// buffers that grow with the bytes that arrived: it starts in the room the
// ticket was charged at admission (firstBodyRoom), which doubles only once
// full (nextRoom) up to chunkSize, and goes on in chunks of at most
// chunkSize, joined into one piece once the body is read whole; never past
// what bodyLimit allows. Every buffer, and the piece the chunks are joined
// into, is charged to the request's ticket before it is taken, so the
// budget of bytes in flight counts what each request has buffered so far:
// bodies that stall hold their first buffer and no more. A body growing
// waits for room when the budget is spent (dispatchLocked). A
// body refused gives every buffer back to the pools.
func (r *udsReceiver) readBody(ctx context.Context, body io.Reader, t *ticket, contentLength int64) (*bodyBuffer, error) {
	if contentLength == 0 {
		return getBuffer(firstBodyRoom), nil
	}
	limit := bodyLimit(contentLength, r.maxBodySize)
	room := t.bodyRoom()
	if room <= 0 {
		room = firstBodyRoom
	}
	buf := getBuffer(room)
	fail := func(err error) (*bodyBuffer, error) {
		putBuffer(buf)
		return nil, err
	}
	for {
		size := buf.size()
		if size >= limit {
			// The body layers stop a body past the limit before this;
			// keep the buffers bounded even so.
			return fail(&http.MaxBytesError{Limit: r.maxBodySize})
		}
		if len(buf.b) == cap(buf.b) {
			held, move, next := buf.growth(limit)
			if why := t.growBody(ctx, held); why != refusalNone {
				return fail(&admissionError{why: why})
			}
			buf.grow(move, next)
		}
		b := buf.b
		n, err := body.Read(b[len(b):min(int64(cap(b)), int64(len(b))+limit-size)])
		buf.b = b[:len(b)+n]
		if err == io.EOF {
			if why := t.growBody(ctx, buf.joinedSize()); why != refusalNone {
				return fail(&admissionError{why: why})
			}
			buf.join()
			return buf, nil
		}
		if err != nil {
			return fail(err)
		}
	}
}
