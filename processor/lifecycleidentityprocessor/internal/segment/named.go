package segment // import "github.com/tracebound/tracebound/processor/lifecycleidentityprocessor/internal/segment"

// namedEntry is one open parent of a trace's prefix, in a per-trace list.
type namedEntry struct {
	id   uint64
	next int32 // index+1 of the next entry of the same trace, 0 at the end
}

// namedSlab stores the open-parent lists of all traces in one slice with a
// free list: no allocation per trace once it has grown.
type namedSlab struct {
	entries []namedEntry
	free    int32 // index+1 of the first free entry, 0 if none
}

// push adds id in front of the list starting at *head (index+1, 0 = empty).
func (n *namedSlab) push(head *int32, id uint64) {
	var i int32
	if n.free != 0 {
		i = n.free
		n.free = n.entries[i-1].next
	} else {
		n.entries = append(n.entries, namedEntry{})
		i = int32(len(n.entries))
	}
	n.entries[i-1] = namedEntry{id: id, next: *head}
	*head = i
}

// find reports whether id is in the list starting at head, and the number of
// entries it passed.
func (n *namedSlab) find(head int32, id uint64) (found bool, length int) {
	for i := head; i != 0; i = n.entries[i-1].next {
		if n.entries[i-1].id == id {
			return true, length
		}
		length++
	}
	return false, length
}

// remove deletes id from the list at *head; it reports whether it was there.
func (n *namedSlab) remove(head *int32, id uint64) bool {
	for p := head; *p != 0; p = &n.entries[*p-1].next {
		i := *p
		if n.entries[i-1].id == id {
			*p = n.entries[i-1].next
			n.entries[i-1] = namedEntry{next: n.free}
			n.free = i
			return true
		}
	}
	return false
}

// drain calls f for every id of the list at *head and frees the list.
func (n *namedSlab) drain(head *int32, f func(uint64)) {
	for i := *head; i != 0; {
		e := n.entries[i-1]
		if f != nil {
			f(e.id)
		}
		n.entries[i-1] = namedEntry{next: n.free}
		n.free = i
		i = e.next
	}
	*head = 0
}
