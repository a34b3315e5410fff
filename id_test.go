package herald

import (
	"fmt"
	"strings"
	"testing"
)

func TestIDsUniqueAndOrderedAcrossBlocks(t *testing.T) {
	prev := nextID()
	seen := map[string]bool{prev: true}
	for range 5 * idBlockSize {
		id := nextID()
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		if id <= prev {
			t.Fatalf("ID %q not after %q", id, prev)
		}
		if want := idPrefixLen + 1 + idSeqLen; len(id) != want {
			t.Fatalf("ID %q has length %d, want %d", id, len(id), want)
		}
		seen[id], prev = true, id
	}
}

func TestIDBlockMatchesSequence(t *testing.T) {
	for _, src := range []*idSource{&messageIDs, &replyNames} {
		for _, first := range []uint64{0, 64, 192, 0xff40, 1<<40 + 0xc0} {
			blk := src.makeBlock(first)
			size := uint64(src.idLen())
			for k := range uint64(idBlockSize) {
				want := fmt.Sprintf("%s%016x", src.prefix, first+k)
				if got := blk.text[k*size : (k+1)*size]; got != want {
					t.Fatalf("block %#x ID %d = %q, want %q", first, k, got, want)
				}
			}
		}
	}
}

func TestReplyNamesAreReserved(t *testing.T) {
	name := replyNames.next()
	if !strings.HasPrefix(name, replyPrefix) || name == replyNames.next() {
		t.Fatalf("reply name %q: want a fresh name starting with %q", name, replyPrefix)
	}
}
