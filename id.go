package herald

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
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
	idBlockSize = 64
)

var (
	idPrefix = newIDPrefix()
	// messageIDs are Message.ID and CorrelationID; replyNames name the
	// private reply destinations of requests.
	messageIDs = idSource{prefix: idPrefix + "-"}
	replyNames = idSource{prefix: replyPrefix + idPrefix + "-"}
)

// idSource hands out prefix + a 16-hex-digit sequence number.
type idSource struct {
	prefix string
	seq    atomic.Uint64
	block  atomic.Pointer[idBlock]
}

type idBlock struct {
	first uint64 // sequence number of the block's first ID
	text  string // idBlockSize IDs back to back
}

func newIDPrefix() string {
	var b [5]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:idPrefixLen]
}

// nextID returns a new message ID.
func nextID() string { return messageIDs.next() }

// next returns the source's next ID.
func (s *idSource) next() string {
	n := s.seq.Add(1)
	first := n - n%idBlockSize
	blk := s.block.Load()
	if blk == nil || blk.first != first {
		blk = s.makeBlock(first)
		// Callers that race at a block boundary each build the same
		// block; keeping whichever lands is harmless.
		if cur := s.block.Load(); cur == nil || cur.first < first {
			s.block.CompareAndSwap(cur, blk)
		}
	}
	size := s.idLen()
	i := int(n-first) * size
	return blk.text[i : i+size]
}

func (s *idSource) idLen() int { return len(s.prefix) + idSeqLen }

func (s *idSource) makeBlock(first uint64) *idBlock {
	const hex = "0123456789abcdef"
	// first is a multiple of idBlockSize (64), so within a block only the
	// last two hex digits change: format the first ID once, then write it
	// again and again with those two rewritten.
	size := s.idLen()
	tmpl := make([]byte, size-2, size)
	copy(tmpl, s.prefix)
	for j, seq := size-3, first>>8; j >= len(s.prefix); j-- {
		tmpl[j] = hex[seq&0xf]
		seq >>= 4
	}
	var text strings.Builder // its String does not copy
	text.Grow(idBlockSize * size)
	for k := range idBlockSize {
		low := byte(first) + byte(k)
		text.Write(tmpl)
		text.WriteByte(hex[low>>4])
		text.WriteByte(hex[low&0xf])
	}
	return &idBlock{first: first, text: text.String()}
}
