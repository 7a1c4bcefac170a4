package order

import (
	"errors"
	"math"
	"strconv"
)

// Cents is an amount of Brazilian reais in centavos. Money never goes
// through a float: parse, sum and print all work on this integer.
type Cents int64

// maxCents bounds any amount we accept, far above any order, so that sums
// of millions of orders cannot overflow int64.
const maxCents = Cents(1e15)

// AppendJSON appends the amount as a JSON number with exactly two decimals
// (3499.90), the form CONTRACT.md shows.
func (c Cents) AppendJSON(dst []byte) []byte {
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	dst = strconv.AppendInt(dst, int64(c/100), 10)
	r := c % 100
	return append(dst, '.', byte('0'+r/10), byte('0'+r%10))
}

// String prints the amount as a plain decimal, 3499.90.
func (c Cents) String() string { return string(c.AppendJSON(nil)) }

// BRL formats the amount the way Brazilians read money: R$ 1.234,56.
func (c Cents) BRL() string { return string(c.AppendBRL(nil)) }

// AppendBRL appends the pt-BR form of the amount: R$ 1.234,56.
func (c Cents) AppendBRL(dst []byte) []byte {
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	dst = append(dst, "R$ "...)
	var digits [24]byte
	ds := strconv.AppendInt(digits[:0], int64(c/100), 10)
	for i, d := range ds {
		if i > 0 && (len(ds)-i)%3 == 0 {
			dst = append(dst, '.')
		}
		dst = append(dst, d)
	}
	r := c % 100
	return append(dst, ',', byte('0'+r/10), byte('0'+r%10))
}

var (
	errMoneyEmpty     = errors.New("empty number")
	errMoneyFormat    = errors.New("not a plain decimal number")
	errMoneyDecimals  = errors.New("more than two decimals")
	errMoneyTooLarge  = errors.New("amount too large")
	errMoneyNegative  = errors.New("negative amount")
	errIntegerFormat  = errors.New("not an integer")
	errIntegerTooLong = errors.New("integer too large")
)

// ParseCents reads a JSON number with at most two decimals (12, 12.5, 12.50)
// into centavos exactly. Exponents and more decimals are refused rather than
// rounded: rounding would change the money.
func ParseCents(b []byte) (Cents, error) { return parseCents(b, maxCents) }

// ParseSum reads a sum of amounts as ParseCents does, up to what an int64 of
// centavos holds: running totals pass the bound of a single amount.
func ParseSum(b []byte) (Cents, error) { return parseCents(b, math.MaxInt64) }

func parseCents(b []byte, limit Cents) (Cents, error) {
	if len(b) == 0 {
		return 0, errMoneyEmpty
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, errMoneyFormat
		}
	}
	var whole Cents
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := Cents(b[i] - '0')
		if whole > (limit/100-d)/10 {
			return 0, errMoneyTooLarge
		}
		whole = whole*10 + d
	}
	if i == 0 || (i > 1 && b[0] == '0') {
		return 0, errMoneyFormat
	}
	c := whole * 100
	if i < len(b) {
		if b[i] != '.' {
			return 0, errMoneyFormat
		}
		frac := b[i+1:]
		switch {
		case len(frac) == 0:
			return 0, errMoneyFormat
		case len(frac) > 2:
			// 12.500 is still exact: allow trailing zeros past the centavos.
			for _, d := range frac[2:] {
				if d != '0' {
					if d < '0' || d > '9' {
						return 0, errMoneyFormat
					}
					return 0, errMoneyDecimals
				}
			}
			frac = frac[:2]
		}
		var f Cents
		mul := Cents(10)
		for _, d := range frac {
			if d < '0' || d > '9' {
				return 0, errMoneyFormat
			}
			f += Cents(d-'0') * mul
			mul /= 10
		}
		if c > limit-f {
			return 0, errMoneyTooLarge
		}
		c += f
	}
	if neg {
		c = -c
	}
	return c, nil
}

// parseInt reads a JSON integer (no fraction, no exponent).
func parseInt(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errIntegerFormat
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 || (len(b) > 1 && b[0] == '0') {
		if len(b) > 18 {
			return 0, errIntegerTooLong
		}
		return 0, errIntegerFormat
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, errIntegerFormat
		}
		n = n*10 + int64(d-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}
