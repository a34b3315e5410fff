package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The append benchmarks move 1 KiB payloads. Each has its baseline in the
// same run: raw-fsync writes the same frame bytes to an os.File and fsyncs
// after each, in a tight loop on the same disk, which is the physical limit
// for one producer that waits for its data to be on disk; raw-write is the
// same without the fsync, the limit for SyncNever. Compare ns/op:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench 'Append|Raw' -count 1 ./internal/wal; done
const benchPayload = 1024

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name      string
		policy    SyncPolicy
		producers int
	}{
		{"always-1", SyncAlways(), 1},
		{"always-2", SyncAlways(), 2},
		{"always-4", SyncAlways(), 4},
		{"always-8", SyncAlways(), 8},
		{"never-1", SyncNever(), 1},
		{"never-4", SyncNever(), 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{Sync: bc.policy})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			payload := make([]byte, benchPayload)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range bc.producers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := l.Append(1, payload); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.Bytes)/float64(st.Appends), "disk-B/rec")
			if bc.policy.always() {
				b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "rec/fsync")
			}
		})
	}
}

func BenchmarkRaw(b *testing.B) {
	frame := appendFrame(nil, 1, make([]byte, benchPayload), checksum(1, make([]byte, benchPayload)))
	for _, sync := range []bool{true, false} {
		name := "fsync"
		if !sync {
			name = "write"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Write(frame); err != nil {
					b.Fatal(err)
				}
				if sync {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRecover measures Open and Replay of b.N small records (64-byte
// payloads) in 16 MiB segments: ns/op is per record, so the recovery time
// for a million records is ns/op in milliseconds. Run it as
//
//	go test -run '^$' -bench Recover -benchtime 1000000x ./internal/wal
func BenchmarkRecover(b *testing.B) {
	dir := b.TempDir()
	writeSegments(b, dir, b.N, 64)
	b.ResetTimer()
	start := time.Now()
	l, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	opened := time.Since(start)
	n := 0
	if err := l.Replay(func(Pos, byte, []byte) error { n++; return nil }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	replayed := time.Since(start) - opened
	l.Close()
	if n != b.N {
		b.Fatalf("replayed %d records, want %d", n, b.N)
	}
	b.ReportMetric(float64(opened.Nanoseconds())/float64(b.N), "open-ns/rec")
	b.ReportMetric(float64(replayed.Nanoseconds())/float64(b.N), "replay-ns/rec")
}

// writeSegments writes n records straight into segment files, as a log
// with default options would have.
func writeSegments(b *testing.B, dir string, n, size int) {
	b.Helper()
	payload := make([]byte, size)
	sum := checksum(1, payload)
	id := uint64(1)
	buf := encodeSegmentHeader(id)
	flush := func() {
		if err := os.WriteFile(segmentPath(dir, id), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for range n {
		if int64(len(buf)+frameHeader+size) > defaultSegmentSize {
			flush()
			id++
			buf = encodeSegmentHeader(id)
		}
		buf = appendFrame(buf, 1, payload, sum)
	}
	flush()
}

// BenchmarkAlwaysVsRaw measures SyncAlways against raw fsync'd appends in
// alternating blocks of a few milliseconds, so that the drift of a shared
// disk's fsync latency, which swings several-fold within seconds, falls on
// both alike. Each op is one block: every producer appends 8 records of
// 1 KiB, then a tight loop writes and fsyncs 8 frames of the same bytes.
// pct-of-raw is the log's record rate as a percentage of the raw rate;
// rec/fsync is how many records shared each of the log's fsyncs.
func BenchmarkAlwaysVsRaw(b *testing.B) {
	const block = 8
	for _, producers := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("producers-%d", producers), func(b *testing.B) {
			dir := b.TempDir()
			l, err := Open(filepath.Join(dir, "log"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			raw, err := os.Create(filepath.Join(dir, "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			payload := make([]byte, benchPayload)
			frame := appendFrame(nil, 1, payload, checksum(1, payload))
			var logTime, rawTime time.Duration
			for b.Loop() {
				start := time.Now()
				var wg sync.WaitGroup
				for range producers {
					wg.Go(func() {
						for range block {
							if _, err := l.Append(1, payload); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				logTime += time.Since(start)
				start = time.Now()
				for range block {
					if _, err := raw.Write(frame); err != nil {
						b.Fatal(err)
					}
					if err := raw.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				rawTime += time.Since(start)
			}
			logRate := float64(b.N*producers*block) / logTime.Seconds()
			rawRate := float64(b.N*block) / rawTime.Seconds()
			b.ReportMetric(logRate, "log-rec/s")
			b.ReportMetric(rawRate, "raw-rec/s")
			b.ReportMetric(100*logRate/rawRate, "pct-of-raw")
			st := l.Stats()
			b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "rec/fsync")
		})
	}
}
