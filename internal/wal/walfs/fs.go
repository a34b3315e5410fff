// Package walfs is the file-system seam of the write-ahead log: the few
// operations the log performs on files, an implementation over the os
// package, and [Faulty], a wrapper that injects write errors, short writes
// and fsync errors at chosen calls so tests can prove what the log does
// when the disk misbehaves.
package walfs

import (
	"io/fs"
	"os"
)

// FS is what the log needs from a file system. Names are OS paths.
type FS interface {
	// OpenFile opens a file as os.OpenFile does. Opening a directory
	// read-only and calling Sync on it makes its entries durable.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file.
	Remove(name string) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(name string, perm fs.FileMode) error
}

// File is an open file. Writes give explicit offsets, so a file has no
// position to keep consistent after a failed write.
type File interface {
	// ReadAt reads len(p) bytes at off; it returns an error if it reads
	// fewer, io.EOF at the end of the file.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes p at off; it returns an error if it writes fewer
	// than len(p) bytes.
	WriteAt(p []byte, off int64) (int, error)
	// Sync commits the file's contents to stable storage (fsync).
	Sync() error
	// Truncate changes the size of the file.
	Truncate(size int64) error
	// Stat returns the file's description.
	Stat() (fs.FileInfo, error)
	// Close closes the file.
	Close() error
}

// OS returns the FS of the operating system, backed by package os.
func OS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
