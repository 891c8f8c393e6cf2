package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"math/bits"
	"sync"
)

// A body buffer grows with the bytes that arrived, never with what a header
// announces: a body starts in a buffer of firstBodyRoom bytes and moves to
// one twice as large only once it is full. So a buffer holds at most
// firstBodyRoom, or twice what the peer actually sent, whatever its
// Content-Length says: 2,000 connections announcing 20 MB and sending one
// byte hold 4 KiB each, not a buffer sized for 20 MB (issue 12).
const (
	// firstBodyRoom is the buffer a body starts in, and what a request is
	// charged for its body at admission: one page, as small as a read
	// worth making.
	firstBodyRoom = 4 << 10
	// minBufferShift and maxBufferShift bound the pooled buffer sizes:
	// powers of two from firstBodyRoom to maxPooledBuffer.
	minBufferShift = 12
	maxBufferShift = 23
	// maxPooledBuffer keeps the pools from holding on to the rare huge
	// body.
	maxPooledBuffer = 1 << maxBufferShift
)

// bodyBuffer holds a request body as read.
type bodyBuffer struct{ b []byte }

func (b *bodyBuffer) Bytes() []byte { return b.b }

func (b *bodyBuffer) Len() int { return len(b.b) }

// bufferPools hold free buffers by size, one pool per power of two; every
// buffer in bufferPools[i] has a capacity of exactly 1<<(minBufferShift+i).
var bufferPools [maxBufferShift - minBufferShift + 1]sync.Pool

// poolIndex is the pool of buffers of capacity size, or -1 when such
// buffers are not pooled.
func poolIndex(size int64) int {
	if size < firstBodyRoom || size > maxPooledBuffer || size&(size-1) != 0 {
		return -1
	}
	return bits.TrailingZeros64(uint64(size)) - minBufferShift
}

// getBuffer returns an empty buffer of capacity size.
func getBuffer(size int64) *bodyBuffer {
	if i := poolIndex(size); i >= 0 {
		if buf, ok := bufferPools[i].Get().(*bodyBuffer); ok {
			buf.b = buf.b[:0]
			return buf
		}
	}
	return &bodyBuffer{b: make([]byte, 0, size)}
}

// putBuffer returns a body buffer to its pool. pdata copies every string
// and byte slice out of the body while decoding, so nothing decoded refers
// to the buffer any more.
func putBuffer(buf *bodyBuffer) {
	if i := poolIndex(int64(cap(buf.b))); i >= 0 {
		bufferPools[i].Put(buf)
	}
}

// bufferCeiling is the largest buffer a body of at most limit bytes
// (bodyLimit) takes: limit rounded up to a pooled size, or limit itself
// past the largest pooled size.
func bufferCeiling(limit int64) int64 {
	if limit <= firstBodyRoom {
		return firstBodyRoom
	}
	if p := int64(1) << bits.Len64(uint64(limit-1)); p <= maxPooledBuffer {
		return p
	}
	return limit
}

// nextRoom is the buffer a full one of room bytes moves to: twice as
// large, up to bufferCeiling(limit).
func nextRoom(room, limit int64) int64 {
	return min(2*room, max(bufferCeiling(limit), room))
}
