package herald

import (
	"encoding/json"
	"fmt"
)

// HeaderContentType is the header that names the format of an encoded
// ([]byte) body as a MIME type, such as "application/json". [Encode] sets
// it to its codec's ContentType; typed handlers do not require it, and
// name it in the error when a body fails to decode.
const HeaderContentType = "content-type"

// Codec turns values into bytes and back, for bodies that cross a format
// boundary: a producer that has bytes (from a file, a socket, another
// service) and a consumer that wants its own type, or the reverse. Inside
// one process herald passes bodies by reference and needs no codec.
//
// A Codec must be safe for concurrent use: one is shared by every handler
// goroutine of a consumer.
type Codec interface {
	// Marshal returns the encoding of v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer.
	Unmarshal(data []byte, v any) error
	// ContentType names the format as a MIME type, for HeaderContentType.
	ContentType() string
}

// JSONCodec returns the JSON codec, built on encoding/json with its
// defaults (unknown object fields are ignored), whose ContentType is
// "application/json". It is what typed handlers and [Encode] use when no
// codec is given.
func JSONCodec() Codec { return jsonCodec{} }

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) ContentType() string                { return "application/json" }

// WithCodec makes a typed handler ([Typed], [TypedDelivery], [BodyAs])
// decode []byte and json.RawMessage bodies with c. Default [JSONCodec];
// WithCodec(nil) restores it. Given twice, the last wins.
func WithCodec(c Codec) TypedOption { return codecOption{c} }

type codecOption struct{ c Codec }

func (o codecOption) applyTyped(c *typedConfig) {
	if o.c == nil {
		c.codec = jsonCodec{}
		return
	}
	c.codec = o.c
}

// Encode returns a new message whose body is v encoded with c (a []byte),
// with the HeaderContentType header set to c.ContentType(), ready to
// publish to consumers that decode it, such as typed handlers. A nil c
// means [JSONCodec]. It returns the codec's error, wrapped with v's type
// and the content type, when v cannot be encoded.
func Encode(c Codec, v any) (*Message, error) {
	if c == nil {
		c = jsonCodec{}
	}
	data, err := c.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("herald: encoding %T as %s: %w", v, c.ContentType(), err)
	}
	return &Message{Headers: Headers{HeaderContentType: c.ContentType()}, Body: data}, nil
}
