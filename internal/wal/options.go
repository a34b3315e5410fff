package wal

import (
	"fmt"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// Options configure a Log. The zero value is the default: SyncAlways,
// 16 MiB segments, corrupt records are an error, the OS file system.
type Options struct {
	// Sync says when appended records reach stable storage.
	Sync SyncPolicy
	// SegmentSize is the size at which the log starts a new segment file;
	// 0 means 16 MiB. A segment can exceed it by one batch of appends, as
	// a batch is never split between files.
	SegmentSize int64
	// SkipCorrupt makes Open skip damaged records in the middle of the log
	// (reporting each in Recovery.Skipped) instead of failing.
	SkipCorrupt bool
	// FS is the file system; nil means walfs.OS(). Tests pass a
	// walfs.Faulty to inject I/O errors.
	FS walfs.FS
}

const (
	defaultSegmentSize = 16 << 20
	minSegmentSize     = 256
	maxSegmentSize     = 1 << 30 // offsets stay far below 4 GiB
)

// SyncPolicy says when an append is made durable. Make one with SyncAlways,
// SyncInterval or SyncNever.
type SyncPolicy struct {
	every time.Duration // 0: always, > 0: interval, < 0: never
	bad   bool          // SyncInterval of a duration that is not positive
}

// SyncAlways is the default policy: Append returns only after its record is
// on stable storage (written and fsynced). Appends that arrive while an
// fsync is in flight share the next one (group commit).
func SyncAlways() SyncPolicy { return SyncPolicy{} }

// SyncInterval makes Append return once its record is written to the OS;
// the log fsyncs at most d after a write. A record survives a crash of the
// process at once, and a crash of the machine once the next fsync is done.
// d must be positive, or Open fails with ErrInvalid.
func SyncInterval(d time.Duration) SyncPolicy { return SyncPolicy{every: d, bad: d <= 0} }

// SyncNever makes Append return once its record is written to the OS, and
// leaves flushing to the OS: records survive a crash of the process, not
// of the machine. The log still fsyncs a segment before starting the next
// one, and on Close and Sync.
func SyncNever() SyncPolicy { return SyncPolicy{every: -1} }

func (p SyncPolicy) always() bool { return p.every == 0 }

func (p SyncPolicy) String() string {
	switch {
	case p.bad:
		return "invalid interval " + p.every.String()
	case p.every == 0:
		return "always"
	case p.every < 0:
		return "never"
	default:
		return "every " + p.every.String()
	}
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize == 0 {
		o.SegmentSize = defaultSegmentSize
	}
	if o.SegmentSize < minSegmentSize || o.SegmentSize > maxSegmentSize {
		return o, fmt.Errorf("%w: segment size %d, want %d to %d bytes", ErrInvalid, o.SegmentSize, minSegmentSize, maxSegmentSize)
	}
	if o.Sync.bad {
		return o, fmt.Errorf("%w: sync interval %v, want more than 0", ErrInvalid, o.Sync.every)
	}
	if o.FS == nil {
		o.FS = walfs.OS()
	}
	return o, nil
}
