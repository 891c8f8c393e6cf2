package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"mime"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"

	// formatProtobuf and formatJSON label the receiver's span of each
	// request (the obsreport "format" attribute).
	formatProtobuf = "protobuf"
	formatJSON     = "json"
)

// encoding is the body encoding of one request; the answer uses the same.
type encoding int

const (
	encodingUnknown encoding = iota
	encodingProtobuf
	encodingJSON
)

// encodingOf maps a Content-Type header to an encoding. Parameters such as
// charset are ignored.
func encodingOf(contentType string) encoding {
	// Fast path for the exact values clients send.
	switch contentType {
	case contentTypeProtobuf:
		return encodingProtobuf
	case contentTypeJSON:
		return encodingJSON
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return encodingUnknown
	}
	switch mediaType {
	case contentTypeProtobuf:
		return encodingProtobuf
	case contentTypeJSON:
		return encodingJSON
	}
	return encodingUnknown
}

func (e encoding) contentType() string {
	if e == encodingJSON {
		return contentTypeJSON
	}
	return contentTypeProtobuf
}

func (e encoding) format() string {
	if e == encodingJSON {
		return formatJSON
	}
	return formatProtobuf
}

// otlpRequest is what ptraceotlp, pmetricotlp and plogotlp requests share.
type otlpRequest interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

// otlpResponse is what the three OTLP response types share.
type otlpResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func (e encoding) unmarshal(req otlpRequest, body []byte) error {
	if e == encodingJSON {
		return req.UnmarshalJSON(body)
	}
	return req.UnmarshalProto(body)
}

func (e encoding) marshal(resp otlpResponse) ([]byte, error) {
	if e == encodingJSON {
		return resp.MarshalJSON()
	}
	return resp.MarshalProto()
}

func (e encoding) marshalStatus(st *spb.Status) ([]byte, error) {
	if e == encodingJSON {
		return protojson.Marshal(st)
	}
	return proto.Marshal(st)
}
