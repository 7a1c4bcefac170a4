package verify

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// A consumer's numbers are read as the decimal text it wrote, exactly:
// 1234.5, 1234.50 and 1.2345E3 are the same amount, and 94467596.80999999
// (a float sum) is not 94467596.81. Nothing here goes through a float.

// decimalText is a plain or scientific decimal number.
var decimalText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$`)

// maxDecimalLen bounds the text of one number: a hostile file must not make
// verify build huge numbers.
const maxDecimalLen = 80

// parseDecimal reads s as an exact rational.
func parseDecimal(s string) (*big.Rat, error) {
	t := strings.TrimSpace(s)
	if len(t) > maxDecimalLen {
		return nil, fmt.Errorf("%.20q… is not a number (longer than %d characters)", t, maxDecimalLen)
	}
	if !decimalText.MatchString(t) {
		return nil, fmt.Errorf("%q is not a decimal number", t)
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal number", t)
	}
	return r, nil
}

// ratOf is the integer n as a rational.
func ratOf(n int64) *big.Rat { return new(big.Rat).SetInt64(n) }

var hundred = big.NewRat(100, 1)

// centsOf is an amount in reais as centavos, possibly fractional.
func centsOf(reais *big.Rat) *big.Rat { return new(big.Rat).Mul(reais, hundred) }

// formatRat prints r exactly as a decimal: it was read from decimal text, so
// its denominator divides a power of ten (else it is cut at 12 decimals).
func formatRat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	for d := 1; d <= 12; d++ {
		scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)))
		if scaled.IsInt() {
			return r.FloatString(d)
		}
	}
	return r.FloatString(12) + "…"
}

// signed prints r with its sign: +1, -0.000001.
func signed(r *big.Rat) string {
	s := formatRat(r)
	if r.Sign() > 0 {
		return "+" + s
	}
	return s
}
