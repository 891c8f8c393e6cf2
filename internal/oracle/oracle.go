// Package oracle checks DESIGN.md's invariants of splitting on the spans
// that left the lifecycle_identity processor: the processor's tests and the
// testbed's mock backend both judge output with it, so a rule is stated
// once. It knows the processor only by what DESIGN.md says it writes.
package oracle // import "github.com/tracebound/tracebound/internal/oracle"

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute names the lifecycle_identity processor writes (DESIGN.md).
const (
	AttrOriginTraceID = "lifecycle.segment.origin_trace_id"
	AttrSegmentIndex  = "lifecycle.segment.index"
	AttrLinkType      = "lifecycle.link.type"
	LinkTypeParent    = "parent"
)

// Span is what the oracle knows of one span as it left the processor.
type Span struct {
	TraceID  pcommon.TraceID
	SpanID   pcommon.SpanID
	ParentID pcommon.SpanID
	Links    []Link
	// OriginTraceID is the hex lifecycle.segment.origin_trace_id, "" when
	// absent; SegmentIndex is lifecycle.segment.index, -1 when absent.
	OriginTraceID string
	SegmentIndex  int64
	// Name is the span's name (tests give every span a unique one).
	Name string
}

// Link is a span link.
type Link struct {
	TraceID pcommon.TraceID
	SpanID  pcommon.SpanID
	Type    string // the lifecycle.link.type attribute
}

// FromSpan reads what the oracle needs of sp; keepName keeps its name.
func FromSpan(sp ptrace.Span, keepName bool) Span {
	r := Span{TraceID: sp.TraceID(), SpanID: sp.SpanID(), ParentID: sp.ParentSpanID(), SegmentIndex: -1}
	if keepName {
		r.Name = sp.Name()
	}
	if v, ok := sp.Attributes().Get(AttrOriginTraceID); ok {
		r.OriginTraceID = v.AsString()
	}
	if v, ok := sp.Attributes().Get(AttrSegmentIndex); ok {
		if v.Type() == pcommon.ValueTypeInt {
			r.SegmentIndex = v.Int()
		} else {
			r.SegmentIndex = -2 // present with the wrong type
		}
	}
	if links := sp.Links(); links.Len() > 0 {
		r.Links = make([]Link, links.Len())
		for i := range links.Len() {
			l := links.At(i)
			r.Links[i] = Link{TraceID: l.TraceID(), SpanID: l.SpanID()}
			if v, ok := l.Attributes().Get(AttrLinkType); ok {
				r.Links[i].Type = v.AsString()
			}
		}
	}
	return r
}

// FromTraces reads every span of tds, in order, with its name.
func FromTraces(tds ...ptrace.Traces) []Span {
	var out []Span
	for _, td := range tds {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					out = append(out, FromSpan(spans.At(k), true))
				}
			}
		}
	}
	return out
}

// SegmentTraceID is the trace ID DESIGN.md gives segment k of trace t: the
// first 16 bytes of SHA-256(t || k big-endian); segment 0 keeps t. Written
// here again from the text, not taken from the processor, so that the
// oracle checks the processor's rather than repeating it.
func SegmentTraceID(t pcommon.TraceID, k uint64) pcommon.TraceID {
	if k == 0 {
		return t
	}
	var buf [24]byte
	copy(buf[:16], t[:])
	binary.BigEndian.PutUint64(buf[16:], k)
	sum := sha256.Sum256(buf[:])
	id := pcommon.TraceID(sum[:16])
	if id.IsEmpty() {
		id[15] = 1
	}
	return id
}

// TreeReport is what Analyze found in the spans that left the processor.
type TreeReport struct {
	Spans       int `json:"spans"`
	UniqueSpans int `json:"unique_spans"`
	Duplicates  int `json:"duplicates"`
	Traces      int `json:"traces"`
	// MaxTraceSpans is the size of the largest output trace.
	MaxTraceSpans int `json:"max_trace_spans"`
	// OverBound counts output traces over max_spans (allowed only for late
	// parents), OverHardBound those over 2 x max_spans (never allowed).
	OverBound     int `json:"over_bound"`
	OverHardBound int `json:"over_hard_bound"`
	// Of the spans of an output trace beyond its first max_spans (in send
	// order), LateParents are parents sent after one of their children in
	// the same output trace (allowed: they join their children's segment),
	// OverBoundNotLate the others (never allowed). Counted only when the
	// send order is known.
	LateParents      int `json:"late_parents"`
	OverBoundNotLate int `json:"over_bound_not_late"`
	// MissingParents counts spans whose parent never arrived anywhere;
	// BrokenParents those whose parent is in another output trace;
	// ParentChanged those that arrived with a parent other than the one
	// they were sent with; UnknownSpans those never sent (when known).
	MissingParents int `json:"missing_parents"`
	BrokenParents  int `json:"broken_parents"`
	ParentChanged  int `json:"parent_changed"`
	UnknownSpans   int `json:"unknown_spans"`
	// Rerooted counts spans sent as children that arrived as roots;
	// RerootedWithoutLink those among them with no link to their original
	// parent and no parent link at all; LinkWrongParent those whose parent
	// link names another span than their original parent; LinkWrongType
	// those whose link to their original parent lacks
	// lifecycle.link.type=parent; DanglingLinks links to an original parent
	// that never arrived; LinkTraceMismatch links whose trace ID is not the
	// parent's original trace.
	Rerooted            int `json:"rerooted"`
	RerootedWithoutLink int `json:"rerooted_without_link"`
	LinkWrongParent     int `json:"link_wrong_parent"`
	LinkWrongType       int `json:"link_wrong_type"`
	DanglingLinks       int `json:"dangling_links"`
	LinkTraceMismatch   int `json:"link_trace_mismatch"`
	// BadProvenance counts spans whose provenance attributes are
	// inconsistent: an origin without a segment index >= 1 or the reverse,
	// or an origin equal to the span's own trace ID (invariant 5).
	BadProvenance int `json:"bad_provenance"`
	// WrongSegmentID counts moved spans whose trace ID is not
	// SegmentTraceID(origin, index) (invariant 4).
	WrongSegmentID int `json:"wrong_segment_id"`
	// Moved counts spans that carry provenance attributes (moved to a
	// segment k >= 1).
	Moved int `json:"moved"`
	// SplitTraces is the number of input traces that were cut, Segments the
	// output traces they became.
	SplitTraces int          `json:"split_traces"`
	Segments    int          `json:"segments"`
	SegmentSize Distribution `json:"segment_size"`
	// Broken holds the indices (in the records) of the spans counted in
	// BrokenParents.
	Broken []int `json:"-"`
}

// Distribution summarises sizes.
type Distribution struct {
	Count int            `json:"count"`
	Min   int            `json:"min"`
	P50   int            `json:"p50"`
	P90   int            `json:"p90"`
	Max   int            `json:"max"`
	Mean  float64        `json:"mean"`
	Hist  map[string]int `json:"histogram,omitempty"`
}

// Sent is what the generator sent of one span: its parent (zero for a
// root) and its place in the send order.
type Sent struct {
	Parent [8]byte
	Order  int64
}

// spanKey names a span of an input trace: its original trace ID and its
// span ID (span IDs are unique within a trace, not across traces).
type spanKey struct {
	origin pcommon.TraceID
	id     pcommon.SpanID
}

// Origin is the trace the span was sent in: its provenance attribute when
// lifecycle_identity moved it to a later segment, else its own trace.
func (r *Span) Origin() pcommon.TraceID {
	if r.OriginTraceID != "" {
		var t pcommon.TraceID
		if b, err := hex.DecodeString(r.OriginTraceID); err == nil && len(b) == len(t) {
			copy(t[:], b)
		}
		return t
	}
	return r.TraceID
}

// Analyze checks the DESIGN.md invariants on the spans received, for span
// IDs unique across traces (the testbed's). sent returns what the
// generator sent of a span, ok false for a span it never sent (nil:
// parents, re-rooting and late parents are not checked); maxSpans is
// split.max_spans (0: bounds are not checked).
func Analyze(records []Span, sent func([8]byte) (Sent, bool), maxSpans int) TreeReport {
	var by func(*Span) (Sent, bool)
	if sent != nil {
		by = func(r *Span) (Sent, bool) { return sent(r.SpanID) }
	}
	return AnalyzeBy(records, by, maxSpans)
}

// AnalyzeBy is Analyze with what was sent looked up by record (tests, whose
// span IDs repeat across traces, look spans up by name).
func AnalyzeBy(records []Span, sent func(*Span) (Sent, bool), maxSpans int) TreeReport {
	rep := TreeReport{Spans: len(records)}
	where := make(map[spanKey]int, len(records)) // span -> index of first record
	traceSize := map[pcommon.TraceID]int{}
	for i := range records {
		r := &records[i]
		k := spanKey{r.Origin(), r.SpanID}
		if _, dup := where[k]; dup {
			rep.Duplicates++
			continue
		}
		where[k] = i
		traceSize[r.TraceID]++
	}
	rep.UniqueSpans = len(where)
	rep.Traces = len(traceSize)
	// What was sent of each span received.
	var sentOf map[spanKey]Sent
	if sent != nil {
		sentOf = make(map[spanKey]Sent, len(where))
		for k, i := range where {
			if s, ok := sent(&records[i]); ok {
				sentOf[k] = s
			} else {
				rep.UnknownSpans++
			}
		}
	}
	for _, n := range traceSize {
		rep.MaxTraceSpans = max(rep.MaxTraceSpans, n)
		if maxSpans > 0 && n > maxSpans {
			rep.OverBound++
		}
		if maxSpans > 0 && n > 2*maxSpans {
			rep.OverHardBound++
		}
	}

	segmentsOf := map[pcommon.TraceID]map[pcommon.TraceID]struct{}{}
	for key, i := range where {
		r := &records[i]
		o := key.origin
		segs := segmentsOf[o]
		if segs == nil {
			segs = map[pcommon.TraceID]struct{}{}
			segmentsOf[o] = segs
		}
		segs[r.TraceID] = struct{}{}

		hasOrigin, hasIndex := r.OriginTraceID != "", r.SegmentIndex != -1
		if hasOrigin {
			rep.Moved++
		}
		if hasOrigin != hasIndex || (hasIndex && r.SegmentIndex < 1) ||
			(hasOrigin && r.OriginTraceID == hex.EncodeToString(r.TraceID[:])) {
			rep.BadProvenance++
		} else if hasIndex && SegmentTraceID(o, uint64(r.SegmentIndex)) != r.TraceID {
			rep.WrongSegmentID++
		}

		s, known := sentOf[key]
		if known && r.ParentID != pcommon.SpanID(s.Parent) && !r.ParentID.IsEmpty() {
			rep.ParentChanged++
		}
		if !r.ParentID.IsEmpty() {
			pi, ok := where[spanKey{o, r.ParentID}]
			switch {
			case !ok:
				rep.MissingParents++
			case records[pi].TraceID != r.TraceID:
				rep.BrokenParents++
				rep.Broken = append(rep.Broken, i)
			}
			continue
		}
		if !known || s.Parent == [8]byte{} {
			continue
		}
		rep.Rerooted++
		// The link must name the original parent, and say it is one.
		var link, typed *Link
		for li := range r.Links {
			l := &r.Links[li]
			if l.SpanID == pcommon.SpanID(s.Parent) && link == nil {
				link = l
			}
			if l.Type == LinkTypeParent && typed == nil {
				typed = l
			}
		}
		switch {
		case link == nil && typed != nil:
			rep.LinkWrongParent++
			continue
		case link == nil:
			rep.RerootedWithoutLink++
			continue
		case link.Type != LinkTypeParent:
			rep.LinkWrongType++
		}
		pi, ok := where[spanKey{link.TraceID, link.SpanID}]
		if !ok {
			if _, elsewhere := where[spanKey{o, link.SpanID}]; elsewhere {
				rep.LinkTraceMismatch++
			} else {
				rep.DanglingLinks++
			}
			continue
		}
		if link.TraceID != records[pi].Origin() {
			rep.LinkTraceMismatch++
		}
	}

	if maxSpans > 0 && sentOf != nil {
		rep.LateParents, rep.OverBoundNotLate = lateParents(records, where, traceSize, sentOf, maxSpans)
	}

	var sizes []int
	for _, segs := range segmentsOf {
		if len(segs) < 2 {
			continue
		}
		rep.SplitTraces++
		rep.Segments += len(segs)
		for t := range segs {
			sizes = append(sizes, traceSize[t])
		}
	}
	rep.SegmentSize = distribution(sizes, maxSpans)
	return rep
}

func distribution(sizes []int, maxSpans int) Distribution {
	d := Distribution{Count: len(sizes)}
	if len(sizes) == 0 {
		return d
	}
	slices.Sort(sizes)
	d.Min, d.Max = sizes[0], sizes[len(sizes)-1]
	d.P50 = sizes[len(sizes)/2]
	d.P90 = sizes[len(sizes)*9/10]
	sum := 0
	for _, s := range sizes {
		sum += s
	}
	d.Mean = float64(sum) / float64(len(sizes))
	if maxSpans > 0 {
		d.Hist = map[string]int{}
		for _, s := range sizes {
			switch {
			case s <= maxSpans/4:
				d.Hist["<=25%"]++
			case s <= maxSpans/2:
				d.Hist["<=50%"]++
			case s < maxSpans:
				d.Hist["<100%"]++
			case s == maxSpans:
				d.Hist["=100%"]++
			case s <= 2*maxSpans:
				d.Hist["<=200%"]++
			default:
				d.Hist[">200%"]++
			}
		}
	}
	return d
}

// lateParents looks at the spans of each output trace over maxSpans beyond
// its first maxSpans in send order: DESIGN.md allows only parents that
// arrive after one of their children and join that child's segment. It
// returns how many of them are such parents, and how many are not.
func lateParents(records []Span, where map[spanKey]int, traceSize map[pcommon.TraceID]int,
	sentOf map[spanKey]Sent, maxSpans int) (late, notLate int) {
	members := map[pcommon.TraceID][]spanKey{}
	for k, i := range where {
		if t := records[i].TraceID; traceSize[t] > maxSpans {
			members[t] = append(members[t], k)
		}
	}
	if len(members) == 0 {
		return 0, 0
	}
	// The children of each span, as sent.
	children := map[spanKey][]spanKey{}
	for k, s := range sentOf {
		if s.Parent != [8]byte{} {
			p := spanKey{k.origin, pcommon.SpanID(s.Parent)}
			children[p] = append(children[p], k)
		}
	}
	for t, ids := range members {
		slices.SortFunc(ids, func(a, b spanKey) int {
			return cmp.Compare(order(sentOf, a), order(sentOf, b))
		})
		for _, p := range ids[maxSpans:] {
			isLate := false
			for _, c := range children[p] {
				if records[where[c]].TraceID == t && order(sentOf, c) < order(sentOf, p) {
					isLate = true
					break
				}
			}
			if isLate {
				late++
			} else {
				notLate++
			}
		}
	}
	return late, notLate
}

// order is a span's place in the send order; spans never sent sort last.
func order(sentOf map[spanKey]Sent, id spanKey) int64 {
	if s, ok := sentOf[id]; ok {
		return s.Order
	}
	return math.MaxInt64
}
