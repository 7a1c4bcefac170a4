package order

import (
	"fmt"
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

// maskedCPF shows a documento_cliente in a reason without its digits: a CPF
// is personal data (LGPD). One formatted as a CPF shows the middle six
// digits, as Brazilian portals do ("***.982.247-**"); anything else shows
// its length and shape, '#' for a digit and 'a' for a letter.
func maskedCPF(b []byte) string {
	if len(b) == CPFLen && b[3] == '.' && b[7] == '.' && b[11] == '-' {
		formatted := true
		for _, p := range cpfDigitPos {
			formatted = formatted && b[p] >= '0' && b[p] <= '9'
		}
		if formatted {
			return ` "***.` + string(b[4:11]) + `-**"`
		}
	}
	shape := make([]byte, 0, min(len(b), maxQuoted+1))
	n := 0
	for _, r := range string(b) {
		n++
		if len(shape) > maxQuoted {
			continue // counting only
		}
		switch {
		case r >= '0' && r <= '9':
			r = '#'
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			r = 'a'
		case r < ' ' || r > '~':
			r = '?'
		}
		shape = append(shape, byte(r))
	}
	return fmt.Sprintf(", %d characters shaped %s", n, quoteCapped(shape))
}
