package herald

import (
	"fmt"
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
		if len(id) != idLen {
			t.Fatalf("ID %q has length %d, want %d", id, len(id), idLen)
		}
		seen[id], prev = true, id
	}
}

func TestIDBlockMatchesSequence(t *testing.T) {
	for _, first := range []uint64{0, 64, 192, 0xff40, 1<<40 + 0xc0} {
		blk := makeIDBlock(first)
		for k := range uint64(idBlockSize) {
			want := fmt.Sprintf("%s-%016x", idPrefix, first+k)
			if got := blk.text[k*idLen : (k+1)*idLen]; got != want {
				t.Fatalf("block %#x ID %d = %q, want %q", first, k, got, want)
			}
		}
	}
}
