package order

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the order's JSON form (CONTRACT.md field order) to dst.
// It is written by hand: the generator calls it millions of times a second,
// and reflection would cost more than making the order.
func (o *Order) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id_ordem":`...)
	dst = AppendString(dst, o.ID)
	dst = append(dst, `,"documento_cliente":`...)
	dst = AppendString(dst, o.Customer)
	dst = append(dst, `,"produtos":[`...)
	for i := range o.Items {
		it := &o.Items[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"nome":`...)
		dst = AppendString(dst, it.Name)
		dst = append(dst, `,"quantidade":`...)
		dst = strconv.AppendInt(dst, it.Quantity, 10)
		dst = append(dst, `,"preco_unitario":`...)
		dst = it.UnitPrice.AppendJSON(dst)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"valor_total":`...)
	dst = o.Total.AppendJSON(dst)
	dst = append(dst, `,"data_hora_venda":"`...)
	dst = o.SoldAt.Append(dst)
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Plain text is copied as is; quotes,
// backslashes, control bytes and invalid UTF-8 are escaped or replaced the
// way encoding/json does.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	if plainString(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainString reports whether s can be copied into a JSON string as is, the
// common case for product names, ids and CPFs. It tests eight bytes at a time
// for control bytes, '"', '\\' and non-ASCII, which is most of encoding cost.
func plainString(s string) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64([]byte(s[i : i+8]))
		quote := x ^ (ones * '"')
		slash := x ^ (ones * '\\')
		// A byte is flagged if it is below 0x20, is zero after the xor with
		// '"' or '\\', or has its high bit set.
		if ((x-ones*0x20)|(quote-ones)|(slash-ones)|x)&high != 0 {
			return plainSlow(s)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return plainSlow(s)
		}
	}
	return true
}

// plainSlow is plainString for text with non-ASCII or special bytes.
func plainSlow(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}
