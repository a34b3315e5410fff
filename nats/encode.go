package heraldnats

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS headers that carry a herald message's fields. The message's own
// Headers travel as NATS headers of the same names; these names, and NATS's
// own "Nats-" headers, are the bridge's.
const (
	HeaderKey           = "Herald-Key"            // Message.Key
	HeaderCorrelationID = "Herald-Correlation-Id" // Message.CorrelationID
	HeaderReplyTo       = "Herald-Reply-To"       // Message.ReplyTo
	HeaderTime          = "Herald-Time"           // Message.Time, RFC 3339 with nanoseconds
	HeaderPriority      = "Herald-Priority"       // Message.Priority, when not 0
	HeaderSubject       = "Herald-Subject"        // on an error reply: the request's subject
	HeaderError         = "Herald-Error"          // on an error reply: the far side's error
	HeaderErrorCode     = "Herald-Error-Code"     // on an error reply: one of the Code* constants
)

// replyPrefix starts the names of herald's private Request reply
// destinations ("_reply.N"): a name that means nothing in another broker,
// where the same name may be another request's.
const replyPrefix = "_reply."

// encodeMsg turns m into a NATS message on subject: the body by the codec
// ([]byte and json.RawMessage as they are, anything else encoded, with the
// content-type header), the fields as Herald- headers, the message ID as
// Nats-Msg-Id for the stream's de-duplication.
func encodeMsg(m *herald.Message, subject string, codec herald.Codec) (*nats.Msg, error) {
	out := &nats.Msg{Subject: subject, Header: make(nats.Header, len(m.Headers)+4)}
	for k, v := range m.Headers {
		out.Header[k] = []string{v}
	}
	switch body := m.Body.(type) {
	case []byte:
		out.Data = body
	case json.RawMessage:
		out.Data = body
		if _, ok := m.Headers[herald.HeaderContentType]; !ok {
			out.Header[herald.HeaderContentType] = []string{"application/json"}
		}
	default:
		data, err := codec.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("heraldnats: message %s: encoding %T as %s: %w", m.ID, body, codec.ContentType(), err)
		}
		out.Data = data
		out.Header[herald.HeaderContentType] = []string{codec.ContentType()}
	}
	if m.ID != "" {
		out.Header[jetstream.MsgIDHeader] = []string{m.ID}
	}
	setHeader(out.Header, HeaderKey, m.Key)
	setHeader(out.Header, HeaderCorrelationID, m.CorrelationID)
	setHeader(out.Header, HeaderReplyTo, m.ReplyTo)
	if !m.Time.IsZero() {
		out.Header[HeaderTime] = []string{m.Time.Format(time.RFC3339Nano)}
	}
	if m.Priority != 0 {
		out.Header[HeaderPriority] = []string{strconv.Itoa(int(m.Priority))}
	}
	return out, nil
}

func setHeader(h nats.Header, k, v string) {
	if v != "" {
		h[k] = []string{v}
	} else {
		delete(h, k)
	}
}

// decodeMsg turns a NATS message back into a herald message: the reverse
// of encodeMsg. The body stays []byte (typed handlers decode it; see
// DecodeBody for a body of the handler's type). A message that did not come
// from herald gets its subject as Key, and defaultID and stored as ID and
// Time. A ReplyTo naming a private reply destination of the far broker is
// dropped: in this broker it could name another request's.
func decodeMsg(subject string, h nats.Header, data []byte, defaultID string, stored time.Time) *herald.Message {
	m := &herald.Message{Body: data, Key: subject, ID: defaultID, Time: stored}
	if m.Body == nil {
		m.Body = []byte{}
	}
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		switch k {
		case jetstream.MsgIDHeader:
			if v != "" {
				m.ID = v
			}
		case HeaderKey:
			m.Key = v
		case HeaderCorrelationID:
			m.CorrelationID = v
		case HeaderReplyTo:
			if !strings.HasPrefix(v, replyPrefix) {
				m.ReplyTo = v
			}
		case HeaderTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				m.Time = t
			}
		case HeaderPriority:
			if p, err := strconv.ParseUint(v, 10, 8); err == nil {
				m.Priority = uint8(p)
			}
		default:
			if m.Headers == nil {
				m.Headers = make(herald.Headers, len(h))
			}
			m.Headers[k] = v
		}
	}
	return m
}

// subjectTemplate makes a message's NATS subject: literal text with {key}
// replaced by the message's Key. "{key}" alone is the Key itself.
type subjectTemplate struct {
	parts []string // literal, key, literal, key, ... literal
}

const keyPlaceholder = "{key}"

func parseSubject(tmpl string) (subjectTemplate, error) {
	if tmpl == "" {
		return subjectTemplate{}, invalidf("empty subject")
	}
	parts := strings.Split(tmpl, keyPlaceholder)
	for _, p := range parts {
		if strings.ContainsAny(p, "{}") {
			return subjectTemplate{}, invalidf("subject %q: the only placeholder is %s", tmpl, keyPlaceholder)
		}
	}
	t := subjectTemplate{parts: parts}
	if len(parts) == 1 {
		if err := checkSubject(tmpl, false); err != nil {
			return subjectTemplate{}, err
		}
	} else if err := checkSubject(t.expand("k"), false); err != nil {
		return subjectTemplate{}, fmt.Errorf("subject template %q: %w", tmpl, err)
	}
	return t, nil
}

func (t subjectTemplate) expand(key string) string {
	if len(t.parts) == 1 {
		return t.parts[0]
	}
	return strings.Join(t.parts, key)
}

// checkSubject refuses what NATS would: an empty subject or token, white
// space, and, unless wildcards are allowed (subscriptions, filters), the
// wildcard tokens * and >.
func checkSubject(s string, wildcards bool) error {
	if s == "" {
		return invalidf("empty subject")
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return invalidf("subject %q: empty token at %d", s, i)
		case strings.ContainsAny(tok, " \t\r\n"):
			return invalidf("subject %q: white space", s)
		case tok == "*" || tok == ">":
			if !wildcards {
				return invalidf("subject %q: wildcard %q in a subject to publish to", s, tok)
			}
			if tok == ">" && i != len(tokens)-1 {
				return invalidf("subject %q: > must be the last token", s)
			}
		}
	}
	return nil
}
