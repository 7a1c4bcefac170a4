package order

import (
	"errors"
	"time"

	// Embedded so that America/Sao_Paulo resolves on a bare machine or a
	// scratch container with no zoneinfo.
	_ "time/tzdata"
)

// SaoPaulo is the time zone of data_hora_venda.
var SaoPaulo = mustLoad("America/Sao_Paulo")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// LayoutSoldAt is data_hora_venda's layout in Go's notation.
const LayoutSoldAt = "02/01/2006 15:04:05"

// LocalTime is a wall-clock time in São Paulo to the second, kept as its
// fields so that reading and writing DD/MM/YYYY HH:MM:SS needs no zone lookup.
type LocalTime struct {
	Year                 int16
	Month, Day           uint8
	Hour, Minute, Second uint8
}

// LocalTimeOf converts an instant to São Paulo wall-clock time.
func LocalTimeOf(t time.Time) LocalTime {
	t = t.In(SaoPaulo)
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	return LocalTime{Year: int16(y), Month: uint8(m), Day: uint8(d), Hour: uint8(hh), Minute: uint8(mm), Second: uint8(ss)}
}

// Time is the instant this wall-clock time names in São Paulo.
func (l LocalTime) Time() time.Time {
	return time.Date(int(l.Year), time.Month(l.Month), int(l.Day), int(l.Hour), int(l.Minute), int(l.Second), 0, SaoPaulo)
}

// String formats the time as DD/MM/YYYY HH:MM:SS.
func (l LocalTime) String() string { return string(l.Append(nil)) }

// Append appends DD/MM/YYYY HH:MM:SS.
func (l LocalTime) Append(dst []byte) []byte {
	y := int(l.Year)
	return append(dst,
		'0'+l.Day/10, '0'+l.Day%10, '/',
		'0'+l.Month/10, '0'+l.Month%10, '/',
		byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), ' ',
		'0'+l.Hour/10, '0'+l.Hour%10, ':',
		'0'+l.Minute/10, '0'+l.Minute%10, ':',
		'0'+l.Second/10, '0'+l.Second%10)
}

var errDateFormat = errors.New("not a date-time DD/MM/YYYY HH:MM:SS")
var errDateRange = errors.New("no such date or time")

// ParseLocalTime reads DD/MM/YYYY HH:MM:SS and checks that the date exists.
func ParseLocalTime(b []byte) (LocalTime, error) {
	if len(b) != 19 || b[2] != '/' || b[5] != '/' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return LocalTime{}, errDateFormat
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	d, ok1 := num(0, 2)
	m, ok2 := num(3, 2)
	y, ok3 := num(6, 4)
	hh, ok4 := num(11, 2)
	mm, ok5 := num(14, 2)
	ss, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return LocalTime{}, errDateFormat
	}
	if y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y) || hh > 23 || mm > 59 || ss > 59 {
		return LocalTime{}, errDateRange
	}
	return LocalTime{Year: int16(y), Month: uint8(m), Day: uint8(d), Hour: uint8(hh), Minute: uint8(mm), Second: uint8(ss)}, nil
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
