package order

import "errors"

// CPFLen is the length of a formatted CPF, 000.000.000-00.
const CPFLen = 14

var (
	errCPFFormat   = errors.New("not formatted 000.000.000-00")
	errCPFDigits   = errors.New("check digits do not match")
	errCPFRepeated = errors.New("all eleven digits are equal")
)

// cpfDigitPos are the positions of the eleven digits in 000.000.000-00.
var cpfDigitPos = [11]int{0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13}

// CPFCheckDigits computes the two check digits for the nine base digits
// (each 0..9), by the Receita Federal's modulo-11 rule.
func CPFCheckDigits(base *[9]byte) (byte, byte) {
	s1, s2 := 0, 0
	for i, d := range base {
		s1 += int(d) * (10 - i)
		s2 += int(d) * (11 - i)
	}
	d1 := byte(0)
	if r := s1 % 11; r >= 2 {
		d1 = byte(11 - r)
	}
	s2 += int(d1) * 2
	d2 := byte(0)
	if r := s2 % 11; r >= 2 {
		d2 = byte(11 - r)
	}
	return d1, d2
}

// AppendCPF appends the formatted CPF for nine base digits, computing the
// check digits.
func AppendCPF(dst []byte, base *[9]byte) []byte {
	d1, d2 := CPFCheckDigits(base)
	return append(dst,
		'0'+base[0], '0'+base[1], '0'+base[2], '.',
		'0'+base[3], '0'+base[4], '0'+base[5], '.',
		'0'+base[6], '0'+base[7], '0'+base[8], '-',
		'0'+d1, '0'+d2)
}

// ValidateCPF checks the format 000.000.000-00 and both check digits. CPFs
// of one repeated digit pass the arithmetic but are invalid by rule.
func ValidateCPF(s []byte) error {
	if len(s) != CPFLen || s[3] != '.' || s[7] != '.' || s[11] != '-' {
		return errCPFFormat
	}
	var d [11]byte
	for i, p := range cpfDigitPos {
		c := s[p]
		if c < '0' || c > '9' {
			return errCPFFormat
		}
		d[i] = c - '0'
	}
	same := true
	for _, x := range d[1:] {
		if x != d[0] {
			same = false
			break
		}
	}
	if same {
		return errCPFRepeated
	}
	base := (*[9]byte)(d[:9])
	d1, d2 := CPFCheckDigits(base)
	if d1 != d[9] || d2 != d[10] {
		return errCPFDigits
	}
	return nil
}
