package mockbackend

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// countSpansProto counts the spans of a protobuf ExportTraceServiceRequest by
// walking the wire format, without decoding the spans: the backend shares
// the machine with the collector under test and should cost it little.
// resource_spans is field 1 of the request, scope_spans field 2 of
// ResourceSpans, spans field 2 of ScopeSpans.
func countSpansProto(b []byte) (int64, error) {
	var n int64
	err := eachField(b, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, func([]byte) error { n++; return nil })
		})
	})
	return n, err
}

var errMalformed = errors.New("malformed protobuf")

// eachField calls fn with the payload of every length-delimited field num of
// the message b, and checks the rest of b is well-formed.
func eachField(b []byte, num protowire.Number, fn func([]byte) error) error {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errMalformed
			}
			if err := fn(v); err != nil {
				return err
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
	}
	return nil
}
