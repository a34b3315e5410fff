package console

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald"
)

// messageView is a browsed message for the page.
type messageView struct {
	ID            string         `json:"id"`
	Key           string         `json:"key"`
	Headers       herald.Headers `json:"headers"` // without the x-death ones
	Death         herald.Headers `json:"death"`   // the x-death headers of a dead letter
	Body          bodyView       `json:"body"`
	Time          time.Time      `json:"time"`
	CorrelationID string         `json:"correlationId,omitempty"`
	ReplyTo       string         `json:"replyTo,omitempty"`
	Priority      uint8          `json:"priority,omitempty"`
	TTL           string         `json:"ttl,omitempty"`
	Seq           uint64         `json:"seq,omitempty"`
	Deliveries    int            `json:"deliveries"`
}

type bodyView struct {
	Type      string `json:"type"`
	Preview   string `json:"preview"`
	Truncated bool   `json:"truncated"`
}

// previewLimit bounds a body preview, in bytes.
const previewLimit = 2048

// deathPrefix starts the headers herald sets on a dead letter.
const deathPrefix = "x-death-"

func newMessageView(m herald.BrowsedMessage) messageView {
	v := messageView{
		ID: m.ID, Key: m.Key, Headers: herald.Headers{}, Death: herald.Headers{}, Body: preview(m.Body),
		Time: m.Time, CorrelationID: m.CorrelationID, ReplyTo: m.ReplyTo, Priority: m.Priority,
		TTL: dur(m.TTL), Seq: m.Seq, Deliveries: m.Deliveries,
	}
	for k, val := range m.Headers {
		if strings.HasPrefix(k, deathPrefix) {
			v.Death[k] = val
		} else {
			v.Headers[k] = val
		}
	}
	return v
}

// preview shows a body: []byte (and other byte slices) and strings as
// text, anything else with %+v, each with its type. Formatting runs the
// body's own String, Error or Format method, if it has one: a panic there
// is shown, not passed on.
func preview(body any) (v bodyView) {
	if body == nil {
		return bodyView{Type: "nil"}
	}
	v.Type = fmt.Sprintf("%T", body)
	defer func() {
		if p := recover(); p != nil {
			v.Preview, v.Truncated = fmt.Sprintf("(formatting the body panicked: %v)", p), false
		}
	}()
	var s string
	switch b := body.(type) {
	case string:
		s = b
	case []byte:
		s, v.Truncated = bytesText(b)
	default:
		if rv := reflect.ValueOf(body); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			s, v.Truncated = bytesText(rv.Bytes())
		} else {
			s = fmt.Sprintf("%+v", body)
		}
	}
	if len(s) > previewLimit {
		cut := previewLimit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, v.Truncated = s[:cut], true
	}
	v.Preview = s
	return v
}

// bytesText shows up to previewLimit bytes of b: as text if they are
// UTF-8, else quoted with escapes. cut reports that b was longer.
func bytesText(b []byte) (s string, cut bool) {
	if cut = len(b) > previewLimit; cut {
		b = b[:previewLimit]
		// Drop what is left of a character the cut split.
		for k := 0; k < utf8.UTFMax-1 && !utf8.Valid(b); k++ {
			b = b[:len(b)-1]
		}
	}
	if utf8.Valid(b) {
		return string(b), cut
	}
	return fmt.Sprintf("%q", b), cut
}
