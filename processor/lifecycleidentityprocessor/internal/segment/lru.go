package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// The LRU order of the trace table: an intrusive doubly linked list through
// the slots (traceState.prev, next), from the least recently active trace
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
	ts.prev, ts.next = t.tail, nilIdx
	if t.tail != nilIdx {
		t.at(t.tail).next = i
	} else {
		t.head = i
	}
	t.tail = i
}

func (t *traceTable) unlink(i int32) {
	ts := t.at(i)
	if ts.prev != nilIdx {
		t.at(ts.prev).next = ts.next
	} else {
		t.head = ts.next
	}
	if ts.next != nilIdx {
		t.at(ts.next).prev = ts.prev
	} else {
		t.tail = ts.prev
	}
	ts.prev, ts.next = nilIdx, nilIdx
}
