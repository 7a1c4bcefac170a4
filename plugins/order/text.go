package order

import (
	"encoding/binary"
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
	n, why := textProblem(b)
	if why == "" && n > MaxNameRunes {
		why = fmt.Sprintf("has %d characters, the limit is %d", n, MaxNameRunes)
	}
	return why
}

// idProblem says why b (valid UTF-8) may not be an order id, or returns "".
// It runs for every order: ids are mostly printable ASCII, tested eight
// bytes at a time.
func idProblem(b []byte) string {
	if printableASCII(b) {
		return ""
	}
	_, why := textProblem(b)
	return why
}

// textProblem counts the characters of b (valid UTF-8) and says which is a
// control, if any.
func textProblem(b []byte) (int, string) {
	n := 0
	for i := 0; i < len(b); n++ {
		r, size := utf8.DecodeRune(b[i:])
		if k := controlKind(r); k != "" {
			return n + 1, fmt.Sprintf("contains the %s \\u%04x (character %d)", k, r, n+1)
		}
		i += size
	}
	return n, ""
}

// printableASCII reports whether every byte of b is in ' '..'~'. It may
// report false for some text that is, never true for text that is not.
func printableASCII(b []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	// Flags bytes below 0x20, DEL and non-ASCII (and, by a borrow, perhaps
	// a byte above one of those).
	bad := func(x uint64) bool {
		del := x ^ (ones * 0x7f)
		return ((x-ones*0x20)|(del-ones)|x)&high != 0
	}
	if len(b) < 8 {
		for _, c := range b {
			if c < 0x20 || c >= 0x7f {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(b)-8; i += 8 {
		if bad(binary.LittleEndian.Uint64(b[i:])) {
			return false
		}
	}
	// The last eight bytes, overlapping the words before: no byte loop.
	return !bad(binary.LittleEndian.Uint64(b[len(b)-8:]))
}

// IsControlRune reports whether r may not appear in a product name or an
// order id: C0 controls, DEL and C1 controls, which terminals obey (escape
// sequences, carriage return, bell), the line and paragraph separators, and
// the bidirectional controls that make text display in another order than
// it is stored ("Trojan Source").
func IsControlRune(r rune) bool { return controlKind(r) != "" }

// controlKind names the kind of control r is, or returns "" for a printable
// character.
func controlKind(r rune) string {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return "control character"
	case r < 0x61c:
		return ""
	case r == 0x61c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return "bidirectional control"
	case r == 0x2028:
		return "line separator"
	case r == 0x2029:
		return "paragraph separator"
	}
	return ""
}
