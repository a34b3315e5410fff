package wal

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// noSyncFS skips fsyncs, which the fuzzer has no use for and which would
// slow it down a hundredfold.
type noSyncFS struct{ walfs.FS }

func (n noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (walfs.File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ walfs.File }

func (noSyncFile) Sync() error { return nil }

func frameOf(typ byte, p string) []byte {
	return appendFrame(nil, typ, []byte(p), checksum(typ, []byte(p)))
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(frameOf(1, "hello"))
	f.Add(frameOf(200, ""))
	f.Add(frameOf(1, "hello")[:7])
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, payload, size, ok := decodeFrame(b)
		if !ok {
			return
		}
		if again := frameOf(typ, string(payload)); !bytes.Equal(again, b[:size]) {
			t.Fatalf("decoded frame re-encodes differently:\n%x\n%x", b[:size], again)
		}
	})
}

// FuzzOpen writes arbitrary bytes as a segment, the newest or an older one,
// and checks that Open never panics, fails only with ErrCorrupt or
// ErrVersion, always succeeds with SkipCorrupt unless the version is
// foreign, and leaves a log that replays what it counted and reopens
// without finding damage again.
func FuzzOpen(f *testing.F) {
	valid := append(append(encodeSegmentHeader(1), frameOf(1, "one")...), frameOf(2, "two")...)
	f.Add(valid, false, true)
	f.Add(valid[:len(valid)-3], false, true)
	f.Add(append(bytes.Clone(valid), 0, 0, 0), false, false)
	f.Add(append(frameOf(1, "a"), frameOf(1, "b")...), true, true)
	f.Add([]byte{}, true, false)
	f.Add([]byte("0"), false, false) // a skipped header of an older segment once made Replay read past the file
	f.Fuzz(func(t *testing.T, data []byte, addHeader, newest bool) {
		if addHeader {
			data = append(encodeSegmentHeader(1), data...)
		}
		for _, skip := range []bool{false, true} {
			dir := t.TempDir()
			if err := os.WriteFile(segmentPath(dir, 1), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if !newest {
				if err := os.WriteFile(segmentPath(dir, 2), encodeSegmentHeader(2), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			opts := Options{SkipCorrupt: skip, FS: noSyncFS{walfs.OS()}}
			l, err := Open(dir, opts)
			if err != nil {
				if errors.Is(err, ErrVersion) || !skip && errors.Is(err, ErrCorrupt) {
					continue
				}
				t.Fatalf("Open(SkipCorrupt: %v) = %v", skip, err)
			}
			rc := l.Recovery()
			n := 0
			if err := l.Replay(func(Pos, byte, []byte) error { n++; return nil }); err != nil {
				t.Fatalf("Replay after a successful Open: %v", err)
			}
			if n != rc.Records {
				t.Fatalf("Replay visited %d records, Recovery counted %d", n, rc.Records)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = Open(dir, opts)
			if err != nil {
				t.Fatalf("second Open: %v", err)
			}
			if rc2 := l.Recovery(); rc2.Records != rc.Records || rc2.Torn.Bytes != 0 {
				t.Fatalf("second Open: %+v, after the first found %+v", rc2, rc)
			}
			l.Close()
		}
	})
}

// memFile is a read-only segment in memory, for fuzzing the scan without
// the file system.
type memFile struct {
	walfs.File // nil: only ReadAt is used
	b          []byte
}

func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzScan judges arbitrary bytes as a segment, as Open does, and checks
// the judgement is consistent: errors only wrap ErrCorrupt or ErrVersion,
// SkipCorrupt never fails on damage, the valid records and the damage lie
// in order inside the file, and a torn tail only in the newest segment.
func FuzzScan(f *testing.F) {
	valid := append(append(encodeSegmentHeader(1), frameOf(1, "one")...), frameOf(2, "two")...)
	f.Add(valid, true, false)
	f.Add(valid[:len(valid)-1], true, false)
	f.Add(append(append(bytes.Clone(valid[:30]), 9, 9, 9), valid[30:]...), false, true)
	f.Add(encodeSegmentHeader(1)[:7], true, true)
	f.Fuzz(func(t *testing.T, data []byte, last, skip bool) {
		s := scan{f: memFile{b: data}, path: "seg", id: 1, size: int64(len(data)), open: true, last: last, skipCorrupt: skip}
		var prev int64 = -1
		r, err := s.run(func(pos Pos, typ byte, p []byte) error {
			start := int64(pos.Offset)
			if start <= prev || start+int64(pos.Size) > int64(len(data)) || int(pos.Size) != frameHeader+len(p) {
				t.Fatalf("record at %+v after %d in %d bytes", pos, prev, len(data))
			}
			if got, _, _, ok := decodeFrame(data[start:]); !ok || got != typ {
				t.Fatalf("record at %+v does not decode", pos)
			}
			prev = start
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrVersion) || !skip && errors.Is(err, ErrCorrupt) {
				return
			}
			t.Fatalf("scan(last %v, skip %v) = %v", last, skip, err)
		}
		if r.end < 0 || r.end > int64(len(data)) || prev >= r.end && prev >= 0 {
			t.Fatalf("end %d, last record at %d, size %d", r.end, prev, len(data))
		}
		if r.torn.Bytes > 0 && (!last || r.torn.Offset != r.end || r.end+r.torn.Bytes != int64(len(data))) {
			t.Fatalf("torn %+v with end %d of %d (last %v)", r.torn, r.end, len(data), last)
		}
		at := int64(0)
		for _, d := range r.skipped {
			if !skip || d.Offset < at || d.Bytes <= 0 && len(data) > 0 || d.Offset+d.Bytes > r.end {
				t.Fatalf("skipped %+v after %d, end %d (skip %v)", d, at, r.end, skip)
			}
			at = d.Offset + d.Bytes
		}
	})
}
