package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrLocked is returned by Open when another Log, in this process or
	// another, holds the directory.
	ErrLocked = errors.New("wal: directory is locked by another log")
	// ErrCorrupt is wrapped by the error of Open or Replay that finds a
	// damaged record which is not the torn tail a crash leaves.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrVersion is wrapped by the error of Open that finds a segment
	// written in a format version this package does not read.
	ErrVersion = errors.New("wal: unsupported format version")
	// ErrClosed is returned by the methods of a closed Log.
	ErrClosed = errors.New("wal: log closed")
	// ErrFailed is wrapped, with its cause, by every append after an fsync
	// error (or an error that left a segment in an unknown state): the log
	// no longer knows what is on disk, so it stops claiming durability.
	// Close it and Open the directory again to recover.
	ErrFailed = errors.New("wal: log failed")
	// ErrInvalid is wrapped by errors for bad arguments: a record type of
	// 0, a payload above MaxPayload, a bad option, a Release of a position
	// that is not live.
	ErrInvalid = errors.New("wal: invalid argument")
)

// CorruptError locates a damaged record. It wraps ErrCorrupt.
type CorruptError struct {
	File   string // the segment file's path
	Offset int64  // where the damaged record starts
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
