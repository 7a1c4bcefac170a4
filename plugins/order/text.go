package order

import (
	"fmt"
	"unicode/utf8"
)

// MaxNameRunes is the longest product name accepted, in characters. A name is
// a catalog entry and a table row, not a document.
const MaxNameRunes = 200

// maxNameBytes bounds a name in bytes: no UTF-8 character is longer than
// four, so any name over it is too long without counting.
const maxNameBytes = utf8.UTFMax * MaxNameRunes

// nameProblem says why b (valid UTF-8) may not be a product name, or returns
// "" when it may. It runs once per distinct name: the decoder interns names.
func nameProblem(b []byte) string {
	if len(b) > maxNameBytes {
		return fmt.Sprintf("has %d bytes, the limit is %d characters", len(b), MaxNameRunes)
	}
	if n := utf8.RuneCount(b); n > MaxNameRunes {
		return fmt.Sprintf("has %d characters, the limit is %d", n, MaxNameRunes)
	}
	return ""
}
