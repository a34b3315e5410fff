package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// Damage locates bytes that recovery cut off or skipped.
type Damage struct {
	File   string // the segment file's path
	Offset int64  // where the damaged bytes start
	Bytes  int64  // how many bytes were cut or skipped
}

// scan is one pass over a segment: at Open, where it judges damage, or in
// Replay, where it follows what Open judged.
type scan struct {
	f    walfs.File
	path string
	id   uint64
	size int64 // bytes to read: the file's size at Open, the valid end in Replay

	open        bool     // Open's pass: judge damage; otherwise follow skips
	last        bool     // the newest segment, whose damaged tail is a torn write
	skipCorrupt bool     // Open: skip damage in the middle instead of failing
	skips       []Damage // Replay: the regions Open skipped

	br  *bufio.Reader
	big []byte // payloads too large to peek at
}

// scanResult is what Open's pass found.
type scanResult struct {
	end        int64 // the end of the valid records: where a torn tail was cut
	records    int
	bytes      int64 // bytes of the valid records' frames
	torn       Damage
	headerTorn bool // the last segment's header is incomplete: rewrite it
	skipped    []Damage
}

const readBuffer = 256 << 10

// run visits every valid record of the segment in order. Open's pass
// returns a CorruptError for damage in the middle of the log unless
// skipCorrupt, and an error wrapping ErrVersion for a segment of another
// format; Replay's pass returns a CorruptError for damage Open did not skip.
func (s *scan) run(visit func(Pos, byte, []byte) error) (scanResult, error) {
	r := scanResult{end: s.size}
	off, err := s.checkHeader(&r)
	if err != nil || r.headerTorn {
		return r, err
	}
	s.br = bufio.NewReaderSize(io.NewSectionReader(s.f, off, s.size-off), readBuffer)
	for off < s.size {
		typ, payload, size, reason, err := s.next(off)
		if err != nil {
			return r, err
		}
		if reason == "" {
			r.records++
			r.bytes += int64(size)
			if err := visit(Pos{Segment: s.id, Offset: uint32(off), Size: uint32(size)}, typ, payload); err != nil {
				return r, err
			}
			off += int64(size)
			continue
		}
		next, err := s.damaged(&r, off, reason)
		if err != nil || next < 0 {
			return r, err
		}
		off = next
		s.br.Reset(io.NewSectionReader(s.f, off, s.size-off))
	}
	return r, nil
}

// checkHeader judges the segment header and returns where records start.
func (s *scan) checkHeader(r *scanResult) (int64, error) {
	h := make([]byte, segmentHeader)
	n, err := s.f.ReadAt(h, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	state, v := checkSegmentHeader(h[:n], s.id)
	switch state {
	case headerOK:
		return segmentHeader, nil
	case headerVersion:
		return 0, fmt.Errorf("%w: %s is version %d, this build reads version %d", ErrVersion, s.path, v, version)
	}
	if !s.open {
		if d, ok := s.skipAt(0); ok {
			return d.Offset + d.Bytes, nil
		}
		return 0, &CorruptError{File: s.path, Offset: 0, Reason: "bad segment header"}
	}
	if s.last {
		synced, err := s.findFrame(segmentHeader, true)
		if err != nil {
			return 0, err
		}
		if synced < 0 {
			// A crash while the segment was being created.
			r.headerTorn = true
			r.end = 0
			r.torn = Damage{File: s.path, Offset: 0, Bytes: s.size}
			return 0, nil
		}
	}
	if !s.skipCorrupt {
		return 0, &CorruptError{File: s.path, Offset: 0, Reason: "bad segment header"}
	}
	next, err := s.findFrame(segmentHeader, false)
	if err != nil {
		return 0, err
	}
	if next < 0 {
		next = s.size
	}
	r.skipped = append(r.skipped, Damage{File: s.path, Offset: 0, Bytes: next})
	return next, nil
}

// next reads the frame at off, which the reader is positioned at. It
// returns why the frame is not valid, or "", and an error only if reading
// failed: an I/O error is no evidence of a torn write.
func (s *scan) next(off int64) (typ byte, payload []byte, size int, reason string, err error) {
	hb, err := s.br.Peek(frameHeader)
	if err != nil {
		return 0, nil, 0, "truncated frame header", s.readError(err)
	}
	h, ok := parseHeader(hb)
	if !ok {
		return 0, nil, 0, "bad frame header", nil
	}
	size = frameHeader + h.n
	if off+int64(size) > s.size {
		return 0, nil, 0, "frame runs past the end of the file", nil
	}
	var frame []byte
	consumed := false
	if size <= s.br.Size() {
		if frame, err = s.br.Peek(size); err != nil {
			return 0, nil, 0, "truncated frame", s.readError(err)
		}
	} else {
		if cap(s.big) < size {
			s.big = make([]byte, size)
		}
		frame = s.big[:size]
		if _, err := io.ReadFull(s.br, frame); err != nil {
			return 0, nil, 0, "truncated frame", s.readError(err)
		}
		consumed = true
	}
	payload = frame[frameHeader:]
	if checksum(h.typ, payload) != h.sum {
		return 0, nil, 0, "checksum mismatch", nil // damaged() repositions the reader
	}
	if !consumed {
		s.br.Discard(size)
	}
	return h.typ, payload, size, "", nil
}

// readError returns err unless it only says the file ended.
func (s *scan) readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("wal: read %s: %w", s.path, err)
}

// damaged handles a frame at off that is not valid, and returns where to go
// on, or -1 to stop. In the newest segment, a bad frame is the torn tail of
// a crash unless a frame marked flagSynced follows it: such a frame was
// written after everything before it was on disk, so the bad bytes were
// once durable. Cut there. Anything else is damage in the middle: an
// error, or with skipCorrupt a skipped region up to the next valid frame
// (or the end of the segment).
func (s *scan) damaged(r *scanResult, off int64, reason string) (int64, error) {
	if !s.open {
		if d, ok := s.skipAt(off); ok {
			return d.Offset + d.Bytes, nil
		}
		return -1, &CorruptError{File: s.path, Offset: off, Reason: reason}
	}
	if s.last {
		synced, err := s.findFrame(off+1, true)
		if err != nil {
			return -1, err
		}
		if synced < 0 {
			r.end = off
			r.torn = Damage{File: s.path, Offset: off, Bytes: s.size - off}
			return -1, nil
		}
		reason += fmt.Sprintf(", and the record at offset %d was written after it had been fsynced", synced)
	}
	if !s.skipCorrupt {
		return -1, &CorruptError{File: s.path, Offset: off, Reason: reason}
	}
	next, err := s.resync(off)
	if err != nil {
		return -1, err
	}
	if next < 0 {
		next = s.size
	}
	r.skipped = append(r.skipped, Damage{File: s.path, Offset: off, Bytes: next - off})
	if next == s.size {
		return -1, nil
	}
	return next, nil
}

// resync finds the first valid frame after the bad one at off: where the
// bad frame's own length says the next one starts, if its header is whole
// and the frame there is valid, or else at the first byte offset that
// holds a valid frame. It returns -1 if there is none.
func (s *scan) resync(off int64) (int64, error) {
	var hb [frameHeader]byte
	if n, _ := s.f.ReadAt(hb[:], off); n == frameHeader {
		if h, ok := parseHeader(hb[:]); ok {
			after := off + frameHeader + int64(h.n)
			if ok, err := s.frameAt(after, false); err != nil {
				return -1, err
			} else if ok {
				return after, nil
			}
		}
	}
	return s.findFrame(off+1, false)
}

// findFrame returns the first offset at or after from that holds a valid
// frame (marked flagSynced, if synced), or -1. The header check rejects
// almost every offset of garbage without reading a payload, so this costs
// about one pass over the bytes.
func (s *scan) findFrame(from int64, synced bool) (int64, error) {
	const window = 64 << 10
	buf := make([]byte, window+frameHeader)
	for base := from; base+frameHeader <= s.size; base += window {
		n, err := s.f.ReadAt(buf[:min(int64(len(buf)), s.size-base)], base)
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, fmt.Errorf("wal: read %s: %w", s.path, err)
		}
		for i := 0; i < window && i+frameHeader <= n; i++ {
			if h, ok := parseHeader(buf[i:]); !ok || synced && !h.synced {
				continue
			}
			if ok, err := s.frameAt(base+int64(i), synced); ok || err != nil {
				return base + int64(i), err
			}
		}
	}
	return -1, nil
}

// frameAt reports whether a valid frame (marked flagSynced, if synced)
// starts at off.
func (s *scan) frameAt(off int64, synced bool) (bool, error) {
	if off+frameHeader > s.size {
		return false, nil
	}
	var hb [frameHeader]byte
	if _, err := s.f.ReadAt(hb[:], off); err != nil {
		return false, fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	h, ok := parseHeader(hb[:])
	if !ok || synced && !h.synced || off+frameHeader+int64(h.n) > s.size {
		return false, nil
	}
	frame := make([]byte, frameHeader+h.n)
	if _, err := s.f.ReadAt(frame, off); err != nil {
		return false, fmt.Errorf("wal: read %s: %w", s.path, err)
	}
	_, _, _, ok = decodeFrame(frame)
	return ok, nil
}

func (s *scan) skipAt(off int64) (Damage, bool) {
	for _, d := range s.skips {
		if d.Offset == off {
			return d, true
		}
	}
	return Damage{}, false
}
