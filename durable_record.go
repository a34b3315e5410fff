package herald

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/wal"
)

// Record types in the write-ahead log of an Opened broker. Every record
// names a message by its rid: a number the broker gives each publish to a
// durable destination, unique for the life of the directory, so that the
// same Message published twice, or to two queues, is two messages.
const (
	recPublish byte = 1 // a message and its state: what recovery brings back
	recDeliver byte = 2 // rid, attempt: handed to a consumer
	recNack    byte = 3 // rid, attempt, due: backing off until due
	recSettle  byte = 4 // rid: ended; a tombstone that no copy outlives

	// A durable topic's messages are publish records with a seq. Its
	// groups have a record each, and notes on the topic's records.
	recGDeliver byte = 5 // rid, attempt, group: handed to a member of the group
	recGDone    byte = 7 // rid, 0, group: ended in the group
	recGroup    byte = 8 // rid (the group's own), topic, group, first seq
	// recTopicSeq notes a sequence number a topic handed out to a publish
	// that failed: readers may have seen it, so it is never handed out
	// again. Kept until a publish record with a later seq is durable.
	recTopicSeq byte = 9 // topic, seq
	// recGNack notes a group's nack: its back-off lasts until due.
	recGNack byte = 10 // rid, attempt, due, group
	// recRelease notes a Release: the message is ready with attempt
	// attempts, its delivery no longer counted. Unlike the other notes it
	// sets the attempts rather than raising them.
	recRelease byte = 11 // rid, attempt
	// recGRelease is recRelease in a group.
	recGRelease byte = 12 // rid, attempt, 0, group
)

// How a body is stored.
const (
	bodyNil   byte = 0
	bodyBytes byte = 1 // a []byte, as it was
	bodyStr   byte = 2 // a string, as it was
	bodyCodec byte = 3 // encoded with the store's codec
	bodyRaw   byte = 4 // a json.RawMessage, as it was
)

// durableMsg is a publish record decoded: a message and where it stands.
type durableMsg struct {
	rid     uint64
	dest    string
	m       *Message
	attempt int32 // deliveries so far
	expires int64 // absolute, Unix nanoseconds; 0: never
	due     int64 // absolute, Unix nanoseconds, of a Delay or back-off; 0: none
	seq     uint64
	pos     wal.Pos // where the record is, while recovered and waiting
}

var errRecord = errors.New("malformed record")

// appendPublish encodes a publish record. body is the message's body as
// stored (see encodeBody).
func appendPublish(dst []byte, d *durableMsg, bodyTag byte, body []byte) []byte {
	m := d.m
	dst = binary.AppendUvarint(dst, d.rid)
	dst = appendString(dst, d.dest)
	dst = binary.AppendUvarint(dst, uint64(d.attempt))
	dst = binary.AppendVarint(dst, d.expires)
	dst = binary.AppendVarint(dst, d.due)
	dst = binary.AppendUvarint(dst, d.seq)
	dst = appendString(dst, m.ID)
	dst = appendString(dst, m.Key)
	dst = appendString(dst, m.CorrelationID)
	dst = appendString(dst, m.ReplyTo)
	dst = append(dst, m.Priority)
	dst = binary.AppendVarint(dst, m.Time.UnixNano())
	dst = binary.AppendVarint(dst, int64(m.TTL))
	dst = binary.AppendVarint(dst, int64(m.Delay))
	dst = binary.AppendUvarint(dst, uint64(len(m.Headers)))
	for k, v := range m.Headers {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	dst = append(dst, bodyTag)
	return append(dst, body...)
}

// encodeBody returns how body is stored: bytes and strings as they are,
// anything else encoded once with c.
func encodeBody(c Codec, body any) (byte, []byte, error) {
	switch b := body.(type) {
	case nil:
		return bodyNil, nil, nil
	case json.RawMessage:
		return bodyRaw, b, nil
	case []byte:
		return bodyBytes, b, nil
	case string:
		return bodyStr, []byte(b), nil
	}
	data, err := c.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: a durable message's body must be encodable: %T as %s: %w", ErrInvalid, body, c.ContentType(), err)
	}
	return bodyCodec, data, nil
}

// decodePublish decodes a publish record; the message owns copies of
// everything, as p is valid only during replay.
func decodePublish(p []byte, c Codec) (*durableMsg, error) {
	r := reader{b: p}
	d := &durableMsg{m: new(Message)}
	m := d.m
	d.rid = r.uvarint()
	d.dest = r.string()
	d.attempt = int32(r.uvarint())
	d.expires = r.varint()
	d.due = r.varint()
	d.seq = r.uvarint()
	m.ID = r.string()
	m.Key = r.string()
	m.CorrelationID = r.string()
	m.ReplyTo = r.string()
	m.Priority = r.byte()
	m.Time = time.Unix(0, r.varint())
	m.TTL = time.Duration(r.varint())
	m.Delay = time.Duration(r.varint())
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		m.Headers = make(Headers, n)
		for range n {
			k := r.string()
			m.Headers[k] = r.string()
		}
	} else if n > 0 {
		r.bad = true
	}
	tag := r.byte()
	if r.bad {
		return nil, errRecord
	}
	rest := r.b
	switch tag {
	case bodyNil:
	case bodyBytes:
		m.Body = append([]byte{}, rest...)
	case bodyStr:
		m.Body = string(rest)
	case bodyRaw:
		m.Body = json.RawMessage(append([]byte{}, rest...))
	case bodyCodec:
		// The consumer's typed handler decodes it (see Typed): as a
		// json.RawMessage for the JSON codec, []byte for another.
		if _, ok := c.(jsonCodec); ok {
			m.Body = json.RawMessage(append([]byte{}, rest...))
		} else {
			m.Body = append([]byte{}, rest...)
		}
	default:
		return nil, errRecord
	}
	return d, nil
}

// appendMark encodes a deliver, nack or settle record.
func appendMark(dst []byte, rid uint64, attempt int32, due int64) []byte {
	dst = binary.AppendUvarint(dst, rid)
	dst = binary.AppendUvarint(dst, uint64(attempt))
	return binary.AppendVarint(dst, due)
}

// appendGroupMark encodes a recGDeliver or recGDone record, or, with a
// due time, a recGNack.
func appendGroupMark(dst []byte, rid uint64, attempt int32, due int64, group string) []byte {
	return appendString(appendMark(dst, rid, attempt, due), group)
}

func decodeGroupMark(p []byte) (rid uint64, attempt int32, due int64, group string, err error) {
	r := reader{b: p}
	rid = r.uvarint()
	attempt = int32(r.uvarint())
	due = r.varint()
	group = r.string()
	if r.bad {
		return 0, 0, 0, "", errRecord
	}
	return rid, attempt, due, group, nil
}

// appendGroup encodes a recGroup record.
func appendGroup(dst []byte, rid uint64, topic, group string, start uint64) []byte {
	dst = binary.AppendUvarint(dst, rid)
	dst = appendString(dst, topic)
	dst = appendString(dst, group)
	return binary.AppendUvarint(dst, start)
}

func decodeGroup(p []byte) (rid uint64, topic, group string, start uint64, err error) {
	r := reader{b: p}
	rid = r.uvarint()
	topic = r.string()
	group = r.string()
	start = r.uvarint()
	if r.bad {
		return 0, "", "", 0, errRecord
	}
	return rid, topic, group, start, nil
}

// appendTopicSeq encodes a recTopicSeq record.
func appendTopicSeq(dst []byte, topic string, seq uint64) []byte {
	return binary.AppendUvarint(appendString(dst, topic), seq)
}

func decodeTopicSeq(p []byte) (topic string, seq uint64, err error) {
	r := reader{b: p}
	topic = r.string()
	seq = r.uvarint()
	if r.bad {
		return "", 0, errRecord
	}
	return topic, seq, nil
}

func decodeMark(p []byte) (rid uint64, attempt int32, due int64, err error) {
	r := reader{b: p}
	rid = r.uvarint()
	attempt = int32(r.uvarint())
	due = r.varint()
	if r.bad {
		return 0, 0, 0, errRecord
	}
	return rid, attempt, due, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// reader decodes varints and strings, remembering the first error.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
