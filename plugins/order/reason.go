package order

import (
	"strconv"
	"unicode/utf8"
)

// maxQuoted is how many bytes of the input a DecodeError quotes at most: a
// reason travels in logs and message metadata, and a record must not be able
// to flood them through it.
const maxQuoted = 64

// cut returns the first maxQuoted bytes of b, shortened to a character
// boundary, and whether anything was left off.
func cut(b []byte) ([]byte, bool) {
	if len(b) <= maxQuoted {
		return b, false
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n], true
}

// capped is b as is, or its first bytes and "…": for number tokens.
func capped(b []byte) string {
	s, more := cut(b)
	if more {
		return string(s) + "…"
	}
	return string(s)
}

// quoteCapped is b Go-quoted (control characters escaped), or its first
// bytes quoted and "…": for strings.
func quoteCapped(b []byte) string {
	s, more := cut(b)
	q := strconv.Quote(string(s))
	if more {
		q += "…"
	}
	return q
}
