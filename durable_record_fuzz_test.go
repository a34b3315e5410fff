package herald

import (
	"reflect"
	"testing"
	"time"
)

// FuzzDurableRecord feeds arbitrary bytes to every decoder of the durable
// record codec: none may panic, and a publish record that decodes must
// encode back to the same bytes. The seed corpus runs with go test; a
// fuzzing run is
//
//	go test -run '^$' -fuzz FuzzDurableRecord -fuzztime 1m .
func FuzzDurableRecord(f *testing.F) {
	m := &Message{ID: "id-1", Key: "k", CorrelationID: "c", ReplyTo: "r", Priority: 3,
		Time: time.Unix(1700000000, 42), TTL: time.Minute, Delay: time.Second, Headers: Headers{"h": "v"}}
	for _, body := range []any{nil, []byte("raw"), "text", order{1, []string{"a"}}} {
		m.Body = body
		tag, data, err := encodeBody(jsonCodec{}, body)
		if err != nil {
			f.Fatal(err)
		}
		d := &durableMsg{rid: 7, dest: "q", m: m, attempt: 2, expires: -5, due: 1 << 40, seq: 9}
		f.Add(appendPublish(nil, d, tag, data))
	}
	f.Add(appendMark(nil, 1<<63, -1, -1<<62))
	f.Add(appendGroupMark(nil, 3, 1, 1<<40, "group"))
	f.Add(appendGroup(nil, 4, "topic", "group", 17))
	f.Add(appendTopicSeq(nil, "topic", 1<<40))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, c := range []Codec{jsonCodec{}, testCodec{}} {
			d, err := decodePublish(p, c)
			if err != nil {
				continue
			}
			// What decodes, encodes, and decodes again to the same.
			tag, data, err := encodeBody(c, d.m.Body)
			if err != nil {
				t.Fatalf("a decoded body does not encode: %v", err)
			}
			d2, err := decodePublish(appendPublish(nil, d, tag, data), c)
			if err != nil {
				t.Fatalf("a re-encoded record does not decode: %v", err)
			}
			if !reflect.DeepEqual(d2, d) {
				t.Fatalf("decoded again %+v %+v, want %+v %+v", d2, d2.m, d, d.m)
			}
		}
		decodeMark(p)
		decodeGroup(p)
		decodeGroupMark(p)
		decodeTopicSeq(p)
	})
}
