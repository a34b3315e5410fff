package wal

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendReplayInOrderAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var want []rec
	for i := range 200 {
		typ := byte(1 + i%3)
		pos := mustAppend(t, l, typ, payloadOf(i))
		want = append(want, rec{pos, typ, payloadOf(i)})
	}
	if got := replayAll(t, l); !equalRecs(got, want) {
		t.Fatalf("Replay before Close differs from what was appended")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, Options{SegmentSize: 1024})
	rc := l.Recovery()
	if rc.Records != len(want) || rc.Torn.Bytes != 0 || len(rc.Skipped) != 0 {
		t.Fatalf("Recovery = %+v, want %d records and no damage", rc, len(want))
	}
	got := replayAll(t, l)
	if !equalRecs(got, want) {
		t.Fatalf("Replay after reopening: %d records, want %d in order", len(got), len(want))
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1].pos, got[i].pos
		if a.Segment > b.Segment || a.Segment == b.Segment && a.Offset >= b.Offset {
			t.Fatalf("positions out of order: %+v then %+v", a, b)
		}
	}
	// Appends go on after the recovered records.
	pos := mustAppend(t, l, 9, "after")
	if last := got[len(got)-1].pos; pos.Segment < last.Segment || pos.Segment == last.Segment && pos.Offset <= last.Offset {
		t.Fatalf("append after reopen at %+v, not after %+v", pos, last)
	}
}

func equalRecs(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRotationStartsSegmentsAtTheConfiguredSize(t *testing.T) {
	dir := t.TempDir()
	const size = 1024
	l := openLog(t, dir, Options{SegmentSize: size})
	payload := strings.Repeat("x", 100) // 112-byte frames, 8 per segment
	for range 50 {
		mustAppend(t, l, 1, payload)
	}
	files := segmentFiles(t, dir)
	if len(files) != 7 {
		t.Errorf("%d segment files for 50 records of 112 bytes in 1 KiB segments, want 7", len(files))
	}
	for _, f := range files[:len(files)-1] {
		if n := fileSize(t, f); n != segmentHeader+8*112 {
			t.Errorf("%s: %d bytes, want %d", f, n, segmentHeader+8*112)
		}
	}
	if st := l.Stats(); st.Segments != len(files) || st.Live != 50 {
		t.Errorf("Stats = %+v, want %d segments and 50 live records", st, len(files))
	}
}

func TestAppendRejectsBadRecords(t *testing.T) {
	l := openLog(t, t.TempDir(), Options{})
	if _, err := l.Append(0, []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append of type 0 = %v, want ErrInvalid", err)
	}
	if _, err := l.Append(1, make([]byte, MaxPayload+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append above MaxPayload = %v, want ErrInvalid", err)
	}
	if err := l.AppendNoWait(0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("AppendNoWait of type 0 = %v, want ErrInvalid", err)
	}
	if got := replayAll(t, l); len(got) != 0 {
		t.Errorf("rejected records were written: %v", got)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{SegmentSize: 10},
		{SegmentSize: 2 << 30},
		{Sync: SyncInterval(0)},
		{Sync: SyncInterval(-1)},
	} {
		if l, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalid) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Open with %+v = %v, want ErrInvalid", o, err)
		}
	}
}

func TestClosedLog(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pos := mustAppend(t, l, 1, "x")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if err := l.AppendNoWait(1, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendNoWait after Close = %v", err)
	}
	if err := l.Release(pos); !errors.Is(err, ErrClosed) {
		t.Errorf("Release after Close = %v", err)
	}
	if err := l.Replay(func(Pos, byte, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Replay after Close = %v", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
}
