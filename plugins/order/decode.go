package order

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Limits that keep every sum in int64 and a hostile record from costing more
// than it is worth.
const (
	MaxQuantity  = 1_000_000
	MaxUnitPrice = Cents(100_000_000_00) // R$ 100 milhões
	MaxTotal     = Cents(1_000_000_000_00)
	MaxItems     = 1000
	maxInterned  = 100_000
	maxDepth     = 64
)

// DecodeError says which field of an order is wrong and why. Field is a path
// such as "produtos[1].quantidade", or empty when the record is not JSON.
type DecodeError struct {
	Field  string
	Reason string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Decoder parses orders strictly: every field of CONTRACT.md must be present
// once, with its type and its rules; unknown fields are skipped so the format
// can grow. A Decoder reuses its memory and is not safe for concurrent use.
type Decoder struct {
	// SkipIdentity makes Decode check id_ordem and documento_cliente but
	// leave o.ID and o.Customer empty: two allocations fewer per order for a
	// reader, like the aggregator, that needs neither.
	SkipIdentity bool
	// HashID sets o.IDHash, a 64-bit hash of id_ordem (this process's
	// seed), without keeping the text: what deduplication remembers.
	HashID bool

	buf     []byte
	pos     int
	scratch []byte
	// names interns product names: a catalog is small, so after warm-up
	// decoding an item allocates nothing. recent is a direct-mapped cache in
	// front of it, cheaper than the map's hashing.
	names  map[string]string
	recent [256]string
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	return &Decoder{names: make(map[string]string, 256)}
}

// Decode parses data into o, reusing o.Items. On error o is unspecified.
// idSeed seeds the hashes of id_ordem: random per process, so nothing
// hashed is ever stored.
var idSeed = maphash.MakeSeed()

func (d *Decoder) Decode(data []byte, o *Order) error {
	d.buf, d.pos = data, 0
	o.Items = o.Items[:0]
	if err := d.order(o); err != nil {
		return err
	}
	d.ws()
	if d.pos != len(d.buf) {
		return d.syntax("unexpected data after the order")
	}
	return validate(o)
}

// Decode parses one order with a fresh Decoder.
func Decode(data []byte) (*Order, error) {
	var o Order
	if err := NewDecoder().Decode(data, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

func (d *Decoder) syntax(msg string) error {
	return &DecodeError{Reason: fmt.Sprintf("invalid JSON at byte %d: %s", d.pos, msg)}
}

func fieldErr(field, format string, args ...any) error {
	return &DecodeError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func itemField(i int, name string) string {
	return FieldProducts + "[" + strconv.Itoa(i) + "]." + name
}

// The fields of an order and of a product, in the order AppendJSON writes
// them: object tries the next one first.
var (
	topKeys  = []string{FieldID, FieldCustomer, FieldProducts, FieldTotal, FieldSoldAt}
	itemKeys = []string{FieldName, FieldQuantity, FieldUnitPrice}
)

func (d *Decoder) order(o *Order) error {
	d.ws()
	if d.pos >= len(d.buf) {
		return &DecodeError{Reason: "empty record, expected a JSON object"}
	}
	if d.buf[d.pos] != '{' {
		if k := d.kindAt(); k != "" {
			return &DecodeError{Reason: "expected a JSON object, got " + k}
		}
		return d.syntax("expected a JSON object")
	}
	seen := 0
	err := d.object(topKeys, func(k int, _ []byte) error {
		switch k {
		case 0:
			return d.topOnce(&seen, 0, func() error {
				b, err := d.stringBytes(FieldID)
				if err != nil {
					return err
				}
				if len(b) == 0 {
					return fieldErr(FieldID, "empty string")
				}
				if why := idProblem(b); why != "" {
					return fieldErr(FieldID, "%s", why)
				}
				if !d.SkipIdentity {
					o.ID = string(b)
				}
				if d.HashID {
					o.IDHash = maphash.Bytes(idSeed, b)
				}
				return nil
			})
		case 1:
			return d.topOnce(&seen, 1, func() error {
				b, err := d.stringBytes(FieldCustomer)
				if err != nil {
					return err
				}
				if err := ValidateCPF(b); err != nil {
					return fieldErr(FieldCustomer, "invalid CPF%s: %v", maskedCPF(b), err)
				}
				if !d.SkipIdentity {
					o.Customer = string(b)
				}
				return nil
			})
		case 2:
			return d.topOnce(&seen, 2, func() error { return d.items(o) })
		case 3:
			return d.topOnce(&seen, 3, func() error {
				c, err := d.money(FieldTotal)
				o.Total = c
				return err
			})
		case 4:
			return d.topOnce(&seen, 4, func() error {
				b, err := d.stringBytes(FieldSoldAt)
				if err != nil {
					return err
				}
				t, err := ParseLocalTime(b)
				if err != nil {
					return fieldErr(FieldSoldAt, "%s: %v", quoteCapped(b), err)
				}
				o.SoldAt = t
				return nil
			})
		}
		return d.skipValue(0)
	})
	if err != nil {
		return err
	}
	for k, name := range topKeys {
		if seen&(1<<k) == 0 {
			return fieldErr(name, "missing")
		}
	}
	return nil
}

// topOnce parses top-level field k (an index in topKeys) unless it was seen.
func (d *Decoder) topOnce(seen *int, k int, parse func() error) error {
	if *seen&(1<<k) != 0 {
		return fieldErr(topKeys[k], "appears twice")
	}
	*seen |= 1 << k
	return parse()
}

func (d *Decoder) items(o *Order) error {
	d.ws()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '[' {
		return d.typeErr(FieldProducts, "an array of products")
	}
	d.pos++
	d.ws()
	if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
		d.pos++
		return fieldErr(FieldProducts, "empty, an order has at least one product")
	}
	for i := 0; ; i++ {
		if i >= MaxItems {
			return fieldErr(FieldProducts, "more than %d products", MaxItems)
		}
		if err := d.item(o, i); err != nil {
			return err
		}
		d.ws()
		if d.pos >= len(d.buf) {
			return d.syntax("unterminated array")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return nil
		default:
			return d.syntax("expected ',' or ']' in " + FieldProducts)
		}
	}
}

func (d *Decoder) item(o *Order, i int) error {
	d.ws()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '{' {
		return d.typeErr(FieldProducts+"["+strconv.Itoa(i)+"]", "an object")
	}
	var it Item
	var seen [3]bool
	err := d.object(itemKeys, func(k int, _ []byte) error {
		if k < 0 {
			return d.skipValue(0)
		}
		if seen[k] {
			return fieldErr(itemField(i, itemKeys[k]), "appears twice")
		}
		seen[k] = true
		switch k {
		case 0:
			b, err := d.stringBytes(FieldName)
			if err != nil {
				return withField(err, itemField(i, FieldName))
			}
			if len(b) == 0 {
				return fieldErr(itemField(i, FieldName), "empty string")
			}
			if it.Name, err = d.intern(b); err != nil {
				return withField(err, itemField(i, FieldName))
			}
		case 1:
			tok, err := d.number()
			if err != nil {
				return withField(err, itemField(i, FieldQuantity))
			}
			n, err := parseInt(tok)
			if err != nil {
				return fieldErr(itemField(i, FieldQuantity), "expected an integer, got %s", capped(tok))
			}
			if n < 1 || n > MaxQuantity {
				return fieldErr(itemField(i, FieldQuantity), "must be an integer from 1 to %d, got %d", MaxQuantity, n)
			}
			it.Quantity = n
		case 2:
			// The field path is built only on error: this runs for every item.
			c, err := d.money(pendingField)
			if err != nil {
				return withField(err, itemField(i, FieldUnitPrice))
			}
			if c <= 0 || c > MaxUnitPrice {
				return fieldErr(itemField(i, FieldUnitPrice), "must be greater than 0 and at most %s, got %s", MaxUnitPrice, c)
			}
			it.UnitPrice = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, name := range itemKeys {
		if !seen[k] {
			return fieldErr(itemField(i, name), "missing")
		}
	}
	o.Items = append(o.Items, it)
	return nil
}

// pendingField stands for a field path that withField fills in, so that the
// path is only built when there is an error to report.
const pendingField = "?"

// withField puts a field path on an error raised with pendingField (syntax
// errors have no field and keep none).
func withField(err error, field string) error {
	var de *DecodeError
	if errors.As(err, &de) && de.Field != "" && de.Field != field {
		return &DecodeError{Field: field, Reason: de.Reason}
	}
	return err
}

func validate(o *Order) error {
	if o.Total <= 0 || o.Total > MaxTotal {
		return fieldErr(FieldTotal, "must be greater than 0 and at most %s, got %s", MaxTotal, o.Total)
	}
	var sum Cents
	for i := range o.Items {
		sum += Cents(o.Items[i].Quantity) * o.Items[i].UnitPrice
		if sum > MaxTotal {
			return fieldErr(FieldTotal, "sum of the products exceeds %s", MaxTotal)
		}
	}
	if sum != o.Total {
		return fieldErr(FieldTotal, "is %s but the products sum to %s", o.Total, sum)
	}
	return nil
}

// intern returns the product name b as a string, checked against the rules
// for names. Only checked names are kept, so a name seen before is good: the
// rules cost nothing on the hot path.
func (d *Decoder) intern(b []byte) (string, error) {
	slot := &d.recent[nameSlot(b)]
	if *slot == string(b) && len(b) > 0 {
		return *slot, nil
	}
	if s, ok := d.names[string(b)]; ok {
		*slot = s
		return s, nil
	}
	if why := nameProblem(b); why != "" {
		return "", &DecodeError{Field: pendingField, Reason: why}
	}
	s := string(b)
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s, nil
}

// nameSlot picks a slot of Decoder.recent from the length and the first and
// last eight bytes of a name.
func nameSlot(b []byte) uint8 {
	var h uint64
	if len(b) >= 8 {
		h = binary.LittleEndian.Uint64(b) ^ binary.LittleEndian.Uint64(b[len(b)-8:])<<1
	} else {
		for _, c := range b {
			h = h<<8 | uint64(c)
		}
	}
	h ^= uint64(len(b))
	return uint8((h * 0x9E3779B97F4A7C15) >> 56)
}

func (d *Decoder) money(field string) (Cents, error) {
	tok, err := d.number()
	if err != nil {
		return 0, withField(err, field)
	}
	c, err := ParseCents(tok)
	if err != nil {
		return 0, fieldErr(field, "%s: %v", capped(tok), err)
	}
	return c, nil
}

// stringBytes reads a JSON string. The result aliases the input or the
// decoder's scratch space and is valid until the next call.
func (d *Decoder) stringBytes(field string) ([]byte, error) {
	d.ws()
	if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
		return nil, d.typeErr(field, "a string")
	}
	b, err := d.str()
	if err != nil {
		return nil, withField(err, field)
	}
	return b, nil
}

// badString is an error in the text of a string rather than in the JSON
// around it: the caller that knows which field it reads names it.
func (d *Decoder) badString(format string, args ...any) error {
	return &DecodeError{Field: pendingField, Reason: fmt.Sprintf(format, args...)}
}

// unnamed drops pendingField from an error of a string that is no field's
// value (a field name, a skipped value).
func unnamed(err error) error {
	var de *DecodeError
	if errors.As(err, &de) && de.Field == pendingField {
		de.Field = ""
	}
	return err
}

func (d *Decoder) typeErr(field, want string) error {
	k := d.kindAt()
	if k == "" {
		return d.syntax("expected a value for " + field)
	}
	return fieldErr(field, "expected %s, got %s", want, k)
}

// kindAt names the JSON type of the value at the current position.
func (d *Decoder) kindAt() string {
	if d.pos >= len(d.buf) {
		return ""
	}
	switch c := d.buf[d.pos]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return ""
}

// ws skips whitespace. Orders rarely have any: the first test is the whole
// cost then, and it inlines.
func (d *Decoder) ws() {
	if d.pos < len(d.buf) && d.buf[d.pos] > ' ' {
		return
	}
	d.wsSlow()
}

func (d *Decoder) wsSlow() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// object walks an object whose '{' is at the current position, calling fn
// with each key positioned at its value, and with the key's index in keys, or
// -1 if it is none of them. Keys are mostly written in the order of keys and
// without escapes: the next one expected is compared first, in place.
func (d *Decoder) object(keys []string, fn func(k int, key []byte) error) error {
	next := 0
	d.pos++ // '{'
	d.ws()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		return nil
	}
	for {
		d.ws()
		if d.pos >= len(d.buf) || d.buf[d.pos] != '"' {
			return d.syntax("expected a field name")
		}
		k := -1
		var key []byte
		if next < len(keys) {
			want := keys[next]
			if end := d.pos + 1 + len(want); end < len(d.buf) && d.buf[end] == '"' && string(d.buf[d.pos+1:end]) == want {
				k, key = next, d.buf[d.pos+1:end]
				d.pos = end + 1
			}
		}
		if k < 0 {
			var err error
			if key, err = d.str(); err != nil {
				return unnamed(err)
			}
			for j, want := range keys {
				if string(key) == want {
					k = j
					break
				}
			}
		}
		if k >= 0 {
			next = k + 1
		}
		d.ws()
		if d.pos >= len(d.buf) || d.buf[d.pos] != ':' {
			return d.syntax("expected ':' after a field name")
		}
		d.pos++
		if err := fn(k, key); err != nil {
			return err
		}
		d.ws()
		if d.pos >= len(d.buf) {
			return d.syntax("unterminated object")
		}
		switch d.buf[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return nil
		default:
			return d.syntax("expected ',' or '}'")
		}
	}
}

// str reads a string whose '"' is at the current position. It scans eight
// bytes at a time: strings are most of an order's bytes.
func (d *Decoder) str() ([]byte, error) {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	d.pos++
	start := d.pos
	buf := d.buf
	var high8 uint64 // the high bits of the bytes passed: 0 while all are ASCII
	for i := start; i < len(buf); {
		if i+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[i:])
			q := x ^ (ones * '"')
			b := x ^ (ones * '\\')
			// Flags bytes below 0x20, '"' and '\\'. A flag can be false only
			// above a true one (a borrow), so the lowest is the first such byte.
			m := ((x-ones*0x20)&^x | (q-ones)&^q | (b-ones)&^b) & high
			if m == 0 {
				high8 |= x & high
				i += 8
				continue
			}
			n := bits.TrailingZeros64(m) >> 3
			high8 |= x & high & (1<<(8*n) - 1)
			i += n
		}
		c := buf[i]
		switch {
		case c == '"':
			d.pos = i + 1
			s := buf[start:i]
			if high8 != 0 && !utf8.Valid(s) {
				return nil, d.badUTF8(start, i)
			}
			return s, nil
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			d.pos = i
			return nil, d.badString("invalid JSON at byte %d: control character \\u%04x in string", i, c)
		case c >= utf8.RuneSelf:
			high8 = high
		}
		i++
	}
	d.pos = len(buf)
	return nil, d.syntax("unterminated string")
}

func (d *Decoder) strEscaped(start int) ([]byte, error) {
	out := d.scratch[:0]
	i := start
	for i < len(d.buf) {
		c := d.buf[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = out
			// Escapes add only whole characters: out is valid if the bytes
			// copied from the input are.
			if !utf8.Valid(out) {
				return nil, d.badUTF8(start, i)
			}
			return out, nil
		case c < 0x20:
			d.pos = i
			return nil, d.badString("invalid JSON at byte %d: control character \\u%04x in string", i, c)
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(d.buf) {
			break
		}
		i++
		switch e := d.buf[i]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := d.hex4(i + 1)
			if n < 0 {
				d.pos = i
				return nil, d.syntax("bad \\u escape")
			}
			esc := i - 1
			i += 4
			// Half a surrogate pair is refused, not made U+FFFD: that would
			// make different strings equal.
			paired := false
			if utf16IsHigh(r) && i+6 < len(d.buf) && d.buf[i+1] == '\\' && d.buf[i+2] == 'u' {
				if r2, n2 := d.hex4(i + 3); n2 >= 0 && r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
					paired = true
				}
			}
			if !paired && r >= 0xD800 && r <= 0xDFFF {
				d.pos = esc
				return nil, d.badString("\\u%04x at byte %d is half a UTF-16 surrogate pair, not a character", r, esc)
			}
			out = utf8.AppendRune(out, r)
		default:
			d.pos = i
			return nil, d.syntax("bad escape in string")
		}
		i++
	}
	d.pos = len(d.buf)
	d.scratch = out
	return nil, d.syntax("unterminated string")
}

func utf16IsHigh(r rune) bool { return r >= 0xD800 && r <= 0xDBFF }

// badUTF8 reports the first byte of d.buf[start:end] that does not begin a
// valid UTF-8 sequence.
func (d *Decoder) badUTF8(start, end int) error {
	i := start
	for i < end {
		r, size := utf8.DecodeRune(d.buf[i:end])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	d.pos = min(i, end)
	return d.badString("invalid JSON at byte %d: not valid UTF-8 (byte 0x%02x)", d.pos, d.buf[d.pos])
}

func (d *Decoder) hex4(i int) (rune, int) {
	if i+4 > len(d.buf) {
		return 0, -1
	}
	var r rune
	for _, c := range d.buf[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, -1
		}
	}
	return r, 4
}

// number returns the token of a JSON number, checked against JSON's grammar.
func (d *Decoder) number() ([]byte, error) {
	d.ws()
	buf := d.buf
	start := d.pos
	i := start
	if i < len(buf) && buf[i] == '-' {
		i++
	}
	if i >= len(buf) || buf[i] < '0' || buf[i] > '9' {
		if k := d.kindAt(); k != "a number" {
			if k == "" {
				return nil, d.syntax("expected a number")
			}
			return nil, &DecodeError{Field: pendingField, Reason: "expected a number, got " + k}
		}
		d.pos = i
		return nil, d.syntax("bad number")
	}
	i = digits(buf, i)
	if i < len(buf) && buf[i] == '.' {
		if i = digits(buf, i+1); buf[i-1] == '.' {
			d.pos = i
			return nil, d.syntax("bad number")
		}
	}
	if i < len(buf) && (buf[i] == 'e' || buf[i] == 'E') {
		i++
		if i < len(buf) && (buf[i] == '+' || buf[i] == '-') {
			i++
		}
		j := digits(buf, i)
		if j == i {
			d.pos = i
			return nil, d.syntax("bad number")
		}
		i = j
	}
	d.pos = i
	return buf[start:i], nil
}

// digits returns the index of the first byte from i on that is not a digit.
func digits(buf []byte, i int) int {
	for i < len(buf) && buf[i] >= '0' && buf[i] <= '9' {
		i++
	}
	return i
}

// skipValue checks and skips any JSON value (an unknown field's).
func (d *Decoder) skipValue(depth int) error {
	if depth > maxDepth {
		return d.syntax("nested too deep")
	}
	d.ws()
	if d.pos >= len(d.buf) {
		return d.syntax("expected a value")
	}
	switch c := d.buf[d.pos]; {
	case c == '"':
		_, err := d.str()
		return unnamed(err)
	case c == '{':
		return d.object(nil, func(int, []byte) error { return d.skipValue(depth + 1) })
	case c == '[':
		d.pos++
		d.ws()
		if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
			d.pos++
			return nil
		}
		for {
			if err := d.skipValue(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.pos >= len(d.buf) {
				return d.syntax("unterminated array")
			}
			if d.buf[d.pos] == ']' {
				d.pos++
				return nil
			}
			if d.buf[d.pos] != ',' {
				return d.syntax("expected ',' or ']'")
			}
			d.pos++
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := d.number()
		return err
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(d.buf)-d.pos >= len(lit) && string(d.buf[d.pos:d.pos+len(lit)]) == lit {
			d.pos += len(lit)
			return nil
		}
	}
	return d.syntax("unexpected character")
}
