package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ     byte
		payload []byte
	}{
		{1, nil},
		{2, []byte("x")},
		{255, bytes.Repeat([]byte("herald"), 1000)},
		{7, make([]byte, MaxPayload)},
	} {
		frame := appendFrame([]byte("prefix"), tc.typ, tc.payload, checksum(tc.typ, tc.payload))[len("prefix"):]
		if len(frame) != frameHeader+len(tc.payload) {
			t.Fatalf("frame of a %d-byte payload is %d bytes", len(tc.payload), len(frame))
		}
		typ, payload, size, ok := decodeFrame(append(frame, "trailing"...))
		if !ok || typ != tc.typ || !bytes.Equal(payload, tc.payload) || size != len(frame) {
			t.Fatalf("decodeFrame(type %d, %d bytes) = %d, %d bytes, size %d, %v", tc.typ, len(tc.payload), typ, len(payload), size, ok)
		}
	}
}

func TestChecksumIsCRC32COfTypeAndPayload(t *testing.T) {
	p := []byte("payload")
	want := crc32.Checksum(append([]byte{42}, p...), crc32.MakeTable(crc32.Castagnoli))
	if got := checksum(42, p); got != want {
		t.Fatalf("checksum = %#x, want CRC-32C of type+payload %#x", got, want)
	}
	if got := crcSmall([]byte("123456789")); got != 0xe3069283 { // the CRC-32C check value
		t.Fatalf("crcSmall(123456789) = %#x, want 0xe3069283", got)
	}
}

func TestFrameDetectsEveryBitFlip(t *testing.T) {
	frame := appendFrame(nil, 3, []byte("a record worth keeping"), checksum(3, []byte("a record worth keeping")))
	for bit := range len(frame) * 8 {
		damaged := bytes.Clone(frame)
		damaged[bit/8] ^= 1 << (bit % 8)
		if _, _, _, ok := decodeFrame(damaged); ok {
			t.Fatalf("flipping bit %d went unnoticed", bit)
		}
	}
}

func TestParseHeaderRejectsImplausibleHeaders(t *testing.T) {
	good := appendFrame(nil, 1, []byte("abc"), checksum(1, []byte("abc")))[:frameHeader]
	if _, ok := parseHeader(good); !ok {
		t.Fatal("a good header was rejected")
	}
	reseal := func(h []byte) []byte {
		binary.LittleEndian.PutUint16(h[6:8], uint16(crcSmall(h[:6])))
		return h
	}
	for name, h := range map[string][]byte{
		"zeros":           make([]byte, frameHeader),
		"type 0":          reseal(append([]byte{3, 0, 0, 0, 0, 0}, good[6:]...)),
		"unknown flag":    reseal(append([]byte{3, 0, 0, 0, 1, 2}, good[6:]...)),
		"too long":        reseal(append(binary.LittleEndian.AppendUint32(nil, MaxPayload+1), append([]byte{1, 0}, good[6:]...)...)),
		"header check":    append(bytes.Clone(good[:6]), good[6]^1, good[7], good[8], good[9], good[10], good[11]),
		"length, no seal": append(binary.LittleEndian.AppendUint32(nil, 4), good[4:]...),
	} {
		if _, ok := parseHeader(h); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSegmentNames(t *testing.T) {
	if got := segmentName(42); got != "00000000000000000042.wal" {
		t.Fatalf("segmentName(42) = %q", got)
	}
	for name, want := range map[string]uint64{
		"00000000000000000042.wal": 42,
		"00000000000000000000.wal": 0,
		"0000000000000000042.wal":  0,
		"00000000000000000042.log": 0,
		"LOCK":                     0,
	} {
		id, ok := parseSegmentName(name)
		if id != want || ok != (want != 0) {
			t.Errorf("parseSegmentName(%q) = %d, %v", name, id, ok)
		}
	}
}
