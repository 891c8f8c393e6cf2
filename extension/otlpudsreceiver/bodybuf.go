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
//
// Past chunkSize a body no longer moves: it grows by further chunks of at
// most chunkSize, all taken from and given back to the pools, and is copied
// into one piece only once read whole within max_request_body_size. So a
// body refused while read (over the limit, busy, timed out) leaves no
// garbage behind: a zstd bomb decoded to max_request_body_size and answered
// 413 gives its chunks back for the next request instead of leaving twice
// its size for the garbage collector, which lets the heap grow to twice what
// is live before collecting it (issue 11: 40 concurrent bombs took RSS to
// 409 MiB against a budget of 128). The pools hold no more than the
// requests held at once, and only until the runtime empties them (two
// garbage collections without use).
const (
	// firstBodyRoom is the buffer a body starts in, and what a request is
	// charged for its body at admission: one page, as small as a read
	// worth making.
	firstBodyRoom = 4 << 10
	// chunkSize is the largest buffer taken from the pools: a body that
	// fills one goes on in another. 1 MiB makes a read's system calls and
	// the copy at the end cheap next to decoding, and holds the unused
	// part of the last chunk below 1 MiB.
	chunkSize = 1 << maxBufferShift
	// minBufferShift and maxBufferShift bound the pooled buffer sizes:
	// powers of two from firstBodyRoom to chunkSize.
	minBufferShift = 12
	maxBufferShift = 20
)

// bodyBuffer holds a request body: in b once read whole; while it is read,
// the chunks filled so far and b, the one being filled.
type bodyBuffer struct {
	b      []byte
	chunks [][]byte
	held   int64 // the capacity of b and of every chunk
}

func (b *bodyBuffer) Bytes() []byte { return b.b }

func (b *bodyBuffer) Len() int { return len(b.b) }

// size is the bytes read so far.
func (b *bodyBuffer) size() int64 {
	n := int64(len(b.b))
	for _, c := range b.chunks {
		n += int64(len(c))
	}
	return n
}

// bufferPools hold free buffers by size, one pool per power of two; every
// buffer in bufferPools[i] has a capacity of exactly 1<<(minBufferShift+i).
var bufferPools [maxBufferShift - minBufferShift + 1]sync.Pool

// poolIndex is the pool of buffers of capacity size, or -1 when such
// buffers are not pooled.
func poolIndex(size int64) int {
	if size < firstBodyRoom || size > chunkSize || size&(size-1) != 0 {
		return -1
	}
	return bits.TrailingZeros64(uint64(size)) - minBufferShift
}

// getBytes returns an empty slice of capacity size, pooled when size is.
func getBytes(size int64) []byte {
	if i := poolIndex(size); i >= 0 {
		if b, ok := bufferPools[i].Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, size)
}

// putBytes gives a slice back to its pool. pdata copies every string and
// byte slice out of the body while decoding, so nothing decoded refers to
// it any more.
func putBytes(b []byte) {
	if i := poolIndex(int64(cap(b))); i >= 0 {
		bufferPools[i].Put(&b)
	}
}

// getBuffer returns an empty body buffer of capacity size.
func getBuffer(size int64) *bodyBuffer {
	return &bodyBuffer{b: getBytes(size), held: size}
}

// putBuffer gives every slice the buffer holds back to its pool.
func putBuffer(buf *bodyBuffer) {
	for _, c := range buf.chunks {
		putBytes(c)
	}
	putBytes(buf.b)
	*buf = bodyBuffer{}
}

// bufferCeiling is the largest single buffer a body of at most limit bytes
// (bodyLimit) takes: limit rounded up to a pooled size, at most chunkSize.
func bufferCeiling(limit int64) int64 {
	if limit <= firstBodyRoom {
		return firstBodyRoom
	}
	return min(int64(1)<<bits.Len64(uint64(limit-1)), chunkSize)
}

// nextRoom is the buffer a full one of room bytes moves to, the first
// buffer of a body: twice as large, up to bufferCeiling(limit).
func nextRoom(room, limit int64) int64 {
	return min(2*room, max(bufferCeiling(limit), room))
}

// growth is what a full buffer needs to take more of a body of at most
// limit bytes: the capacity the body holds afterwards, and whether the
// full buffer moves to a larger one (below chunkSize) rather than a chunk
// being added. The new chunk is sized for what the limit leaves.
func (b *bodyBuffer) growth(limit int64) (held int64, move bool, room int64) {
	if len(b.chunks) == 0 && int64(cap(b.b)) < chunkSize {
		room = nextRoom(int64(cap(b.b)), limit)
		return b.held - int64(cap(b.b)) + room, true, room
	}
	room = bufferCeiling(limit - b.size())
	return b.held + room, false, room
}

// grow takes the room growth computed: the full buffer moves to it, or
// becomes a chunk and the room the buffer filled next.
func (b *bodyBuffer) grow(move bool, room int64) {
	next := getBytes(room)
	if move {
		next = append(next, b.b...)
		b.held -= int64(cap(b.b))
		putBytes(b.b)
	} else {
		b.chunks = append(b.chunks, b.b)
	}
	b.b = next
	b.held += room
}

// joinedSize is the capacity the body holds while its chunks are copied
// into one piece: the chunks and the piece, the body's size.
func (b *bodyBuffer) joinedSize() int64 {
	if len(b.chunks) == 0 {
		return b.held
	}
	return b.held + b.size()
}

// join copies a body read in chunks into one piece (taken outside the
// pools: it is larger than any pooled size) and gives the chunks back.
func (b *bodyBuffer) join() {
	if len(b.chunks) == 0 {
		return
	}
	whole := make([]byte, 0, b.size())
	for _, c := range b.chunks {
		whole = append(whole, c...)
		putBytes(c)
	}
	whole = append(whole, b.b...)
	putBytes(b.b)
	b.chunks, b.b, b.held = nil, whole, int64(cap(whole))
}
