package wal

import (
	"encoding/binary"
	"hash/crc32"
)

// A frame is one record on disk: a 12-byte header and the payload.
//
//	offset size
//	0      4    payload length n, little endian
//	4      1    type, 1..255 (0 is never written)
//	5      1    flags: bit 0 (flagSynced) set on the first record written
//	            after an fsync; the other bits are 0 in format version 1
//	6      2    header check: low 16 bits of CRC-32C of bytes 0..6
//	8      4    CRC-32C of the type byte followed by the payload
//	12     n    payload
const frameHeader = 12

// flagSynced marks a record written when everything before it in the
// segment had been fsynced. Recovery uses it to tell bytes that were once
// durable from the unsynced tail a crash may have torn.
const flagSynced = 1

// MaxPayload is the largest payload a record can carry. A length field above
// it marks a damaged frame.
const MaxPayload = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcSmall is CRC-32C of a few bytes. It keeps b on the stack, which
// crc32.Checksum, behind a function variable, cannot.
func crcSmall(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc = castagnoli[byte(crc)^x] ^ crc>>8
	}
	return ^crc
}

// checksum is the record CRC: CRC-32C of typ followed by p.
func checksum(typ byte, p []byte) uint32 {
	return crc32.Update(crcSmall([]byte{typ}), castagnoli, p)
}

// appendFrame appends the frame of a record whose checksum is sum.
func appendFrame(dst []byte, typ byte, p []byte, sum uint32) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	h := dst[at : at+frameHeader]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(p)))
	h[4] = typ
	h[5] = 0
	binary.LittleEndian.PutUint16(h[6:8], uint16(crcSmall(h[:6])))
	binary.LittleEndian.PutUint32(h[8:12], sum)
	return append(dst, p...)
}

// markSynced sets flagSynced on the frame at the start of b.
func markSynced(b []byte) {
	b[5] |= flagSynced
	binary.LittleEndian.PutUint16(b[6:8], uint16(crcSmall(b[:6])))
}

// header is a parsed frame header.
type header struct {
	n      int // payload length
	typ    byte
	synced bool // flagSynced
	sum    uint32
}

// parseHeader returns the header in h (at least frameHeader bytes) and
// whether it is plausible: a non-zero type, no unknown flag, a length within
// MaxPayload and a matching header check. A plausible header can still head
// a damaged record; only the record CRC says it is whole.
func parseHeader(h []byte) (header, bool) {
	n := binary.LittleEndian.Uint32(h[0:4])
	hd := header{n: int(n), typ: h[4], synced: h[5]&flagSynced != 0, sum: binary.LittleEndian.Uint32(h[8:12])}
	ok := h[4] != 0 && h[5]&^flagSynced == 0 && n <= MaxPayload &&
		binary.LittleEndian.Uint16(h[6:8]) == uint16(crcSmall(h[:6]))
	return hd, ok
}

// decodeFrame decodes the frame at the start of b. It returns the frame's
// size, or ok false if b does not start with a whole, valid frame.
func decodeFrame(b []byte) (typ byte, payload []byte, size int, ok bool) {
	if len(b) < frameHeader {
		return 0, nil, 0, false
	}
	h, ok := parseHeader(b)
	if !ok || len(b)-frameHeader < h.n {
		return 0, nil, 0, false
	}
	payload = b[frameHeader : frameHeader+h.n]
	if checksum(h.typ, payload) != h.sum {
		return 0, nil, 0, false
	}
	return h.typ, payload, frameHeader + h.n, true
}
