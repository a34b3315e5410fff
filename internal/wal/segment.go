package wal

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Every segment file starts with a 24-byte header:
//
//	offset size
//	0      8    magic "HERALDWL"
//	8      2    format version, little endian (1)
//	10     2    reserved, 0
//	12     8    segment number, little endian, as in the file name
//	20     4    CRC-32C of bytes 0..20
const (
	segmentHeader = 24
	magic         = "HERALDWL"
	version       = 1
	segmentExt    = ".wal"
)

// segmentName is the file name of segment id: 20 decimal digits, so that
// names sort as numbers do.
func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentExt) }

// parseSegmentName returns the id in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	return id, err == nil && id > 0
}

func segmentPath(dir string, id uint64) string { return filepath.Join(dir, segmentName(id)) }

func encodeSegmentHeader(id uint64) []byte {
	h := make([]byte, segmentHeader)
	copy(h, magic)
	binary.LittleEndian.PutUint16(h[8:10], version)
	binary.LittleEndian.PutUint64(h[12:20], id)
	binary.LittleEndian.PutUint32(h[20:24], crcSmall(h[:20]))
	return h
}

// headerState says what a segment's first bytes hold.
type headerState int

const (
	headerOK      headerState = iota
	headerDamaged             // not a whole, valid header of this segment
	headerVersion             // a valid header of another format version
)

// checkSegmentHeader judges h (up to segmentHeader bytes) as the header of
// segment id, and returns the version it names.
func checkSegmentHeader(h []byte, id uint64) (headerState, uint16) {
	if len(h) < segmentHeader || string(h[:8]) != magic ||
		binary.LittleEndian.Uint32(h[20:24]) != crcSmall(h[:20]) {
		return headerDamaged, 0
	}
	v := binary.LittleEndian.Uint16(h[8:10])
	if v != version {
		return headerVersion, v
	}
	if binary.LittleEndian.Uint64(h[12:20]) != id || h[10] != 0 || h[11] != 0 {
		return headerDamaged, v
	}
	return headerOK, v
}
