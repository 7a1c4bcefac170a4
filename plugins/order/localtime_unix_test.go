package order

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLocalTimeUnix checks the arithmetic path against time.Date over the
// years on both sides of São Paulo's last offset change.
func TestLocalTimeUnix(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	from := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	to := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 200000 {
		inst := from + r.Int64N(to-from)
		l := LocalTimeOf(time.Unix(inst, 0))
		if got, want := l.Unix(), l.Time().Unix(); got != want {
			t.Fatalf("%s: Unix() = %d, Time().Unix() = %d", l, got, want)
		}
		if y := l.Year; y > 2020 && l.Unix() != inst {
			t.Fatalf("%s: Unix() = %d, the instant was %d", l, l.Unix(), inst)
		}
	}
	if lateOffset != -3*3600 {
		t.Fatalf("São Paulo's offset after %d is %d s, want -10800", shiftLastYear, lateOffset)
	}
}
