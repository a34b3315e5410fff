package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

// writeLog appends n records to a new log in dir, closes it and returns
// what was appended.
func writeLog(t *testing.T, dir string, opts Options, n int) []rec {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var recs []rec
	for i := range n {
		pos := mustAppend(t, l, 1, payloadOf(i))
		recs = append(recs, rec{pos, 1, payloadOf(i)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func damage(t *testing.T, name string, f func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	return to
}

// checkRecovered opens dir and checks that it holds exactly want, that the
// log takes appends, and that a second Open finds nothing more to repair.
func checkRecovered(t *testing.T, dir string, opts Options, want []rec) Recovery {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rc := l.Recovery()
	if got := replayAll(t, l); !equalRecs(got, want) {
		t.Fatalf("recovered %d records, want the first %d", len(got), len(want))
	}
	after := mustAppend(t, l, 2, "after recovery")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer l.Close()
	if rc2 := l.Recovery(); rc2.Torn.Bytes != 0 || len(rc2.Skipped) != len(rc.Skipped) {
		t.Fatalf("second Open found damage again: %+v", rc2)
	}
	if got := replayAll(t, l); !equalRecs(got, append(want[:len(want):len(want)], rec{after, 2, "after recovery"})) {
		t.Fatalf("after the repair and one append, recovered %d records, want %d", len(got), len(want)+1)
	}
	return rc
}

func TestTornTailAtEveryOffsetOfTheLastRecord(t *testing.T) {
	base := t.TempDir()
	recs := writeLog(t, base, Options{}, 5)
	last := recs[len(recs)-1].pos
	// The last record is cut at every byte, and what follows the cut is
	// nothing, zeros (a file system that extended the file but never wrote
	// the data) or garbage.
	for cut := range int64(last.Size) {
		for _, fill := range []string{"truncated", "zeros", "garbage"} {
			dir := copyDir(t, base)
			name := segmentPath(dir, last.Segment)
			var tail []byte
			switch fill {
			case "zeros":
				tail = make([]byte, 4096)
			case "garbage":
				r := rand.New(rand.NewPCG(uint64(cut), 0))
				for range 4096 {
					tail = append(tail, byte(r.Uint32()))
				}
			}
			damage(t, name, func(b []byte) []byte { return append(b[:int64(last.Offset)+cut], tail...) })
			rc := checkRecovered(t, dir, Options{}, recs[:len(recs)-1])
			want := Damage{File: name, Offset: int64(last.Offset), Bytes: cut + int64(len(tail))}
			if want.Bytes == 0 {
				want = Damage{}
			}
			if rc.Torn != want {
				t.Fatalf("cut at %d, %s: Torn = %+v, want %+v", cut, fill, rc.Torn, want)
			}
		}
	}
}

func TestGarbageAfterTheLastRecordIsCut(t *testing.T) {
	for name, tail := range map[string][]byte{
		"zeros":        make([]byte, 10000),
		"one byte":     {0x42},
		"header only":  appendFrame(nil, 1, []byte("never written"), checksum(1, []byte("never written")))[:frameHeader],
		"bad checksum": func() []byte { f := appendFrame(nil, 1, []byte("xx"), 0); return f }(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			recs := writeLog(t, dir, Options{}, 3)
			seg := segmentPath(dir, recs[0].pos.Segment)
			size := fileSize(t, seg)
			damage(t, seg, func(b []byte) []byte { return append(b, tail...) })
			rc := checkRecovered(t, dir, Options{}, recs)
			if rc.Torn != (Damage{File: seg, Offset: size, Bytes: int64(len(tail))}) {
				t.Fatalf("Torn = %+v, want %d bytes at %d", rc.Torn, len(tail), size)
			}
		})
	}
}

func TestTornSegmentHeaderIsRewritten(t *testing.T) {
	for _, keep := range []int{0, 1, segmentHeader - 1} {
		dir := t.TempDir()
		recs := writeLog(t, dir, Options{}, 3)
		// A crash while the next segment was being created.
		next := segmentPath(dir, recs[0].pos.Segment+1)
		if err := os.WriteFile(next, encodeSegmentHeader(recs[0].pos.Segment + 1)[:keep], 0o644); err != nil {
			t.Fatal(err)
		}
		rc := checkRecovered(t, dir, Options{}, recs)
		if rc.Torn != (Damage{File: next, Offset: 0, Bytes: int64(keep)}) {
			t.Errorf("header of %d bytes: Torn = %+v", keep, rc.Torn)
		}
	}
}

func TestCorruptRecordInTheMiddle(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(p Pos) int64 // the byte to flip
	}{
		{"payload", func(p Pos) int64 { return int64(p.Offset) + frameHeader + 2 }},
		{"checksum", func(p Pos) int64 { return int64(p.Offset) + 9 }},
		{"length", func(p Pos) int64 { return int64(p.Offset) + 1 }},
		{"type", func(p Pos) int64 { return int64(p.Offset) + 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			recs := writeLog(t, dir, Options{}, 10)
			bad := recs[4].pos
			seg := segmentPath(dir, bad.Segment)
			damage(t, seg, func(b []byte) []byte { b[tc.at(bad)] ^= 0x10; return b })

			l, err := Open(dir, Options{})
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.File != seg || ce.Offset != int64(bad.Offset) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("Open = %v, want ErrCorrupt at %s offset %d", err, seg, bad.Offset)
			}
			// The failed Open released the directory.
			want := append(recs[:4:4], recs[5:]...)
			rc := checkRecovered(t, dir, Options{SkipCorrupt: true}, want)
			if len(rc.Skipped) != 1 || rc.Skipped[0] != (Damage{File: seg, Offset: int64(bad.Offset), Bytes: int64(bad.Size)}) {
				t.Fatalf("Skipped = %+v, want the %d bytes of record 4 at %d", rc.Skipped, bad.Size, bad.Offset)
			}
			if rc.Records != len(want) || rc.Torn.Bytes != 0 {
				t.Fatalf("Recovery = %+v", rc)
			}
		})
	}
}

func TestDamageInAnOlderSegmentIsNeverATornTail(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{SegmentSize: 512}, 40)
	first := segmentPath(dir, recs[0].pos.Segment)
	size := fileSize(t, first)
	if recs[len(recs)-1].pos.Segment == recs[0].pos.Segment {
		t.Fatal("the records fit in one segment")
	}
	// Cut the older segment's last record short: nothing valid follows it
	// in that file, yet it was once whole, so this is damage.
	damage(t, first, func(b []byte) []byte { return b[:size-3] })
	_, err := Open(dir, Options{SegmentSize: 512})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.File != first {
		t.Fatalf("Open = %v, want a CorruptError in %s", err, first)
	}
	l := openLog(t, dir, Options{SegmentSize: 512, SkipCorrupt: true})
	rc := l.Recovery()
	if len(rc.Skipped) != 1 || rc.Skipped[0].File != first || rc.Skipped[0].Offset+rc.Skipped[0].Bytes != size-3 {
		t.Fatalf("Skipped = %+v, want the rest of %s", rc.Skipped, first)
	}
	if got := replayAll(t, l); len(got) != len(recs)-1 {
		t.Fatalf("recovered %d records, want %d", len(got), len(recs)-1)
	}
}

func TestGarbageBetweenRecordsIsDamage(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{}, 6)
	seg := segmentPath(dir, recs[0].pos.Segment)
	at := int64(recs[3].pos.Offset)
	junk := bytes.Repeat([]byte{0xEE}, 1000)
	damage(t, seg, func(b []byte) []byte { return append(b[:at:at], append(junk, b[at:]...)...) })
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	l := openLog(t, dir, Options{SkipCorrupt: true})
	if rc := l.Recovery(); len(rc.Skipped) != 1 || rc.Skipped[0].Offset != at || rc.Skipped[0].Bytes != int64(len(junk)) {
		t.Fatalf("Skipped = %+v, want %d bytes at %d", rc.Skipped, len(junk), at)
	}
	var payloads []string
	for _, r := range replayAll(t, l) {
		payloads = append(payloads, r.payload)
	}
	for i, r := range recs {
		if payloads[i] != r.payload {
			t.Fatalf("record %d = %q, want %q", i, payloads[i], r.payload)
		}
	}
}

func TestBadSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{}, 3)
	seg := segmentPath(dir, recs[0].pos.Segment)
	damage(t, seg, func(b []byte) []byte { b[0] = 'X'; return b })
	var ce *CorruptError
	if _, err := Open(dir, Options{}); !errors.As(err, &ce) || ce.Offset != 0 {
		t.Fatalf("Open = %v, want a CorruptError at offset 0", err)
	}
	rc := checkRecovered(t, dir, Options{SkipCorrupt: true}, recs)
	if len(rc.Skipped) != 1 || rc.Skipped[0].Bytes != segmentHeader {
		t.Fatalf("Skipped = %+v, want the header", rc.Skipped)
	}
}

func TestOtherFormatVersionIsRefused(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{}, 1)
	seg := segmentPath(dir, recs[0].pos.Segment)
	damage(t, seg, func(b []byte) []byte {
		b[8] = version + 1
		binary.LittleEndian.PutUint32(b[20:24], crcSmall(b[:20]))
		return b
	})
	for _, skip := range []bool{false, true} {
		if _, err := Open(dir, Options{SkipCorrupt: skip}); !errors.Is(err, ErrVersion) {
			t.Fatalf("Open(SkipCorrupt: %v) = %v, want ErrVersion", skip, err)
		}
	}
}

// A power cut can leave a hole in what was written but not yet fsynced,
// with the pages after it on disk. Under SyncNever nothing after the first
// batch of a segment follows an fsync, so a hole there, even with valid
// records after it, is the torn tail of the crash: cut, and Open succeeds.
func TestHoleInTheUnsyncedTailIsTorn(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{Sync: SyncNever()}, 10)
	hole := recs[4].pos
	seg := segmentPath(dir, hole.Segment)
	damage(t, seg, func(b []byte) []byte {
		clear(b[hole.Offset : hole.Offset+hole.Size])
		return b
	})
	// Close fsynced the segment, but the records carry no mark of it:
	// only a record written after an fsync is marked.
	size := fileSize(t, seg)
	rc := checkRecovered(t, dir, Options{}, recs[:4])
	if rc.Torn.Offset != int64(hole.Offset) || rc.Torn.Bytes != size-int64(hole.Offset) {
		t.Fatalf("Torn = %+v, want from %d to the end", rc.Torn, hole.Offset)
	}
}

// The same hole under SyncAlways is followed by records that were written
// after it had been fsynced: the bytes were durable, so it is damage.
func TestHoleBeforeASyncedRecordIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	recs := writeLog(t, dir, Options{}, 10)
	hole := recs[4].pos
	seg := segmentPath(dir, hole.Segment)
	damage(t, seg, func(b []byte) []byte {
		clear(b[hole.Offset : hole.Offset+hole.Size])
		return b
	})
	var ce *CorruptError
	if _, err := Open(dir, Options{}); !errors.As(err, &ce) || ce.Offset != int64(hole.Offset) {
		t.Fatalf("Open = %v, want a CorruptError at %d", err, hole.Offset)
	}
}

func TestFirstRecordAfterAnFsyncIsMarked(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{Sync: SyncNever()})
	var pos []Pos
	for i := range 3 {
		pos = append(pos, mustAppend(t, l, 1, payloadOf(i)))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	pos = append(pos, mustAppend(t, l, 1, "after Sync"))
	b, err := os.ReadFile(segmentPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, true} {
		h, _ := parseHeader(b[pos[i].Offset:])
		if h.synced != want {
			t.Errorf("record %d: synced mark %v, want %v", i, h.synced, want)
		}
	}
}
