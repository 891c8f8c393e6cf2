package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// The LRU order of the trace table: an intrusive doubly linked list through
// the slots (traceState.links: prev, next), from the least recently active trace
// (head, evicted first) to the most recently active (tail).

// touch moves a trace to the most recently active end.
func (t *traceTable) touch(i int32) {
	if t.tail == i {
		return
	}
	t.unlink(i)
	t.pushBack(i)
}

func (t *traceTable) pushBack(i int32) {
	ts := t.at(i)
	ts.setPrev(t.tail)
	ts.setNext(nilIdx)
	if t.tail != nilIdx {
		t.at(t.tail).setNext(i)
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *traceTable) unlink(i int32) {
	ts := t.at(i)
	prev, next := ts.prev(), ts.next()
	if prev != nilIdx {
		t.at(prev).setNext(next)
	} else {
		t.head = next
	}
	if next != nilIdx {
		t.at(next).setPrev(prev)
	} else {
		t.tail = prev
	}
	ts.setPrev(nilIdx)
	ts.setNext(nilIdx)
}
