package herald

import (
	"crypto/rand"
	"encoding/base32"
	"sync/atomic"
)

// Message IDs are a random per-process prefix and a fixed-width hex
// sequence number: unique in the process, ordered by publish (byte-wise
// comparison follows the sequence), and cheap. IDs are cut from blocks of
// idBlockSize made in one allocation, so assigning an ID costs an atomic
// add and a slice, not an allocation per message.
const (
	idPrefixLen = 8
	idSeqLen    = 16
	idLen       = idPrefixLen + 1 + idSeqLen
	idBlockSize = 64
)

var (
	idPrefix = newIDPrefix()
	idSeq    atomic.Uint64
	idBlock  atomic.Pointer[idBlockT]
)

type idBlockT struct {
	first uint64 // sequence number of the block's first ID
	text  string // idBlockSize IDs of idLen bytes, back to back
}

func newIDPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:idPrefixLen]
}

// nextID returns a new message ID.
func nextID() string {
	n := idSeq.Add(1)
	first := n - n%idBlockSize
	blk := idBlock.Load()
	if blk == nil || blk.first != first {
		blk = makeIDBlock(first)
		// Publishers that race at a block boundary each build the same
		// block; keeping whichever lands is harmless.
		if cur := idBlock.Load(); cur == nil || cur.first < first {
			idBlock.CompareAndSwap(cur, blk)
		}
	}
	i := int(n-first) * idLen
	return blk.text[i : i+idLen]
}

func makeIDBlock(first uint64) *idBlockT {
	const hex = "0123456789abcdef"
	// first is a multiple of idBlockSize (64), so within a block only the
	// last two hex digits change: format the first ID once, then copy it
	// and rewrite those two.
	var tmpl [idLen]byte
	copy(tmpl[:], idPrefix)
	tmpl[idPrefixLen] = '-'
	for j, seq := idLen-1, first; j > idPrefixLen; j-- {
		tmpl[j] = hex[seq&0xf]
		seq >>= 4
	}
	buf := make([]byte, idBlockSize*idLen)
	for k := range idBlockSize {
		b := buf[k*idLen : (k+1)*idLen]
		copy(b, tmpl[:])
		low := byte(first) + byte(k)
		b[idLen-2], b[idLen-1] = hex[low>>4], hex[low&0xf]
	}
	return &idBlockT{first: first, text: string(buf)}
}
