package order

import (
	"errors"
	"fmt"
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

// Time is the instant this wall-clock time names in São Paulo. A time the
// clocks showed twice, when daylight saving time ended, is its first
// occurrence (still in daylight time), as RFC 5545 reads it.
func (l LocalTime) Time() time.Time {
	if y := int(l.Year); y >= shiftFirstYear && y <= shiftLastYear {
		if sh := shiftAt(l.wallSeconds()); sh != nil && sh.to < sh.from {
			return time.Unix(l.wallSeconds()-int64(sh.from), 0).In(SaoPaulo)
		}
	}
	return time.Date(int(l.Year), time.Month(l.Month), int(l.Day), int(l.Hour), int(l.Minute), int(l.Second), 0, SaoPaulo)
}

// wallSeconds counts the seconds from 01/01/1970 00:00:00 to l on a clock
// that never changes offset.
func (l LocalTime) wallSeconds() int64 {
	return time.Date(int(l.Year), time.Month(l.Month), int(l.Day), int(l.Hour), int(l.Minute), int(l.Second), 0, time.UTC).Unix()
}

// shift is a change of São Paulo's offset from UTC: at that instant (Unix
// seconds) the offset went from "from" to "to" seconds. Moving forward the
// clocks skip the wall-clock times [at+from, at+to); moving back they show
// [at+to, at+from) twice.
type shift struct {
	at       int64
	from, to int32
}

// shifts are São Paulo's offset changes in time order, and the years whose
// wall clock they touch: outside them (from 2020 on, today) a time needs no
// lookup.
var shifts, shiftFirstYear, shiftLastYear = offsetShifts(SaoPaulo, 2100)

// offsetShifts lists the changes of loc's offset up to the year until.
func offsetShifts(loc *time.Location, until int) ([]shift, int, int) {
	var out []shift
	first, last := 0, -1
	t := time.Date(1800, 1, 1, 0, 0, 0, 0, loc)
	for t.Year() <= until {
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		_, from := t.Zone()
		_, to := end.Zone()
		if from != to {
			sh := shift{at: end.Unix(), from: int32(from), to: int32(to)}
			lo := time.Unix(sh.at+int64(min(from, to)), 0).UTC().Year()
			hi := time.Unix(sh.at+int64(max(from, to)), 0).UTC().Year()
			if len(out) == 0 {
				first = lo
			}
			last = hi
			out = append(out, sh)
		}
		t = end
	}
	return out, first, last
}

// shiftAt returns the shift whose skipped or repeated wall-clock times hold
// wall (seconds as from LocalTime.wallSeconds), or nil.
func shiftAt(wall int64) *shift {
	// The shifts' wall-clock ranges are in order and do not overlap: find
	// the first that ends after wall.
	lo, hi := 0, len(shifts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sh := &shifts[m]; sh.at+int64(max(sh.from, sh.to)) <= wall {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(shifts) {
		if sh := &shifts[lo]; sh.at+int64(min(sh.from, sh.to)) <= wall {
			return sh
		}
	}
	return nil
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
var errDateSkipped = errors.New("no such local time in America/Sao_Paulo")

// ParseLocalTime reads DD/MM/YYYY HH:MM:SS and checks that the date exists
// and that São Paulo's clocks showed the time: not one they skipped when
// daylight saving time began.
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
	l := LocalTime{Year: int16(y), Month: uint8(m), Day: uint8(d), Hour: uint8(hh), Minute: uint8(mm), Second: uint8(ss)}
	if y >= shiftFirstYear && y <= shiftLastYear {
		if sh := shiftAt(l.wallSeconds()); sh != nil && sh.to > sh.from {
			from := time.Unix(sh.at+int64(sh.from), 0).UTC()
			to := time.Unix(sh.at+int64(sh.to), 0).UTC()
			return LocalTime{}, fmt.Errorf("%w: clocks jumped from %s to %s on %s", errDateSkipped,
				from.Format("15:04:05"), to.Format("15:04:05"), from.Format("02/01/2006"))
		}
	}
	return l, nil
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

// Unix is the instant this wall-clock time names in São Paulo, in Unix
// seconds, as Time().Unix() but without building a time.Time for the years
// after the last offset change (São Paulo has kept -03:00 since 2019), where
// it is plain arithmetic: the hot path of windowed totals.
func (l LocalTime) Unix() int64 {
	if y := int(l.Year); y > shiftLastYear && y >= 1970 {
		return civilDays(y, int(l.Month), int(l.Day))*86400 +
			int64(l.Hour)*3600 + int64(l.Minute)*60 + int64(l.Second) - int64(lateOffset)
	}
	return l.Time().Unix()
}

// lateOffset is São Paulo's offset from UTC, in seconds, after its last
// offset change.
var lateOffset = func() int {
	_, off := time.Date(shiftLastYear+1, 6, 1, 12, 0, 0, 0, SaoPaulo).Zone()
	return off
}()

// civilDays counts the days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (Howard Hinnant's days_from_civil).
func civilDays(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
