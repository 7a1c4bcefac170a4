// Package window assigns event times (whole Unix seconds) to tumbling and
// hopping windows aligned to the São Paulo wall clock, for per-product sales
// aggregation.
//
// # Alignment
//
// A window size either divides one hour (1s, 2s, ..., 30m, 1h: 3600 is a
// multiple of it) or is a whole number of hours dividing a day (2h, 3h, 4h,
// 6h, 8h, 12h, 24h).
//
// Sizes dividing one hour are aligned to the clock by flooring the instant:
// a window starts at every Unix second that is a multiple of its slide. São
// Paulo's offsets from UTC have been whole hours since 1914, so this is the
// same as aligning to the local clock; before 1914 (local mean time,
// -03:06:28) such windows stay aligned to UTC. Because these windows are
// instants, not wall-clock readings, the hour the clocks repeat when daylight
// saving time ends is two distinct 1h windows (23:00-02:00 and 23:00-03:00),
// and no window starts at a reading of the hour they skip.
//
// Sizes of whole hours are aligned to local midnight of the São Paulo day:
// window boundaries are the instants at which the wall clock first shows a
// multiple of the slide counted from local midnight. Precisely, for a wall
// reading W (seconds of a clock that never changes offset), the boundary is
// B(W), the first instant whose wall-clock reading is W or later. So:
//
//   - When the clocks jump forward (Brazil: 2018-11-04 00:00 -03:00 became
//     01:00 -02:00), the boundary that does not exist (00:00) is the instant
//     of the jump, the first instant of that local day (01:00 -02:00). That
//     day's 24h window lasts 23 hours.
//   - When the clocks fall back (2019-02-17 00:00 -02:00 became 2019-02-16
//     23:00 -03:00), a repeated reading is a boundary at its first
//     occurrence only, and the local day 2019-02-16 lasts 25 hours, from
//     2019-02-16T00:00:00-02:00 to 2019-02-17T00:00:00-03:00.
//
// A window with whole-hour size is named by its start. If several wall
// readings share one boundary (a slide shorter than the skipped hour, e.g.
// 00:00 and 01:00 on 2018-11-04 for a 1h slide), the window starting there is
// that of the earliest reading, so a hopping record near a jump forward can
// fall in fewer than Size/Slide windows.
//
// # Speed and concurrency
//
// Spec is a plain value and its methods keep no state: they are safe for
// concurrent use. Windows does no allocation beyond growing dst. For sizes
// dividing one hour it is integer arithmetic only. For whole-hour sizes,
// times after São Paulo's last offset change (2019-02-17; no daylight saving
// time since) take a fast path with the fixed offset -03:00; earlier times
// take an exact path that binary-searches a table of São Paulo's offset
// changes, built once at start-up from order.SaoPaulo (time/tzdata). The
// package never calls time.Date with a local time, whose result for a time
// the clocks skipped is unspecified.
package window

import (
	"fmt"
	"math"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Spec is a window size and slide. Slide == Size (or 0 → Size) is
// tumbling; a Slide that divides Size and is smaller makes hopping windows.
// Methods assume a Spec accepted by Parse; for any other they may return
// nonsense or panic.
type Spec struct{ Size, Slide time.Duration }

const (
	hour = 3600
	day  = 24 * hour
)

const allowed = "a whole number of seconds dividing 1h (1s..1h, 3600 % seconds == 0) " +
	"or a whole number of hours dividing 24h (2h, 3h, 4h, 6h, 8h, 12h, 24h)"

// Parse validates a spec. Size and slide must be positive whole seconds; a
// slide of 0 means the size (tumbling). Either the size divides one hour
// (1s..1h, 3600 % size == 0), aligned to the clock, or it is a whole number
// of hours dividing 24h (2h, 3h, 4h, 6h, 8h, 12h, 24h), aligned to local
// midnight of the São Paulo day. The slide must divide the size and obey the
// same rule. Errors name the field (window, slide) and value and say what is
// allowed.
func Parse(size, slide time.Duration) (Spec, error) {
	if err := check("window", size); err != nil {
		return Spec{}, err
	}
	if slide == 0 {
		slide = size
	}
	if err := check("slide", slide); err != nil {
		return Spec{}, err
	}
	if slide > size || size%slide != 0 {
		return Spec{}, fmt.Errorf("slide %v: must divide window %v", slide, size)
	}
	return Spec{Size: size, Slide: slide}, nil
}

func check(field string, d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("%s %v: must be positive, %s", field, d, allowed)
	case d%time.Second != 0:
		return fmt.Errorf("%s %v: must be whole seconds, %s", field, d, allowed)
	}
	n := int64(d / time.Second)
	if n <= hour && hour%n == 0 || n%hour == 0 && n <= day && day%n == 0 {
		return nil
	}
	return fmt.Errorf("%s %v: must be %s", field, d, allowed)
}

// seconds returns the size and slide in seconds.
func (s Spec) seconds() (size, slide int64) {
	size = int64(s.Size / time.Second)
	slide = int64(s.Slide / time.Second)
	if slide == 0 {
		slide = size
	}
	return size, slide
}

// Hopping reports whether a record falls in more than one window: whether
// the slide is shorter than the size.
func (s Spec) Hopping() bool { return s.Slide != 0 && s.Slide < s.Size }

// Windows appends to dst the start (Unix seconds) of every window holding
// event time t, oldest first, and returns dst. For a tumbling spec it
// appends exactly one. It allocates nothing when dst has room for Size/Slide
// more elements.
func (s Spec) Windows(dst []int64, t int64) []int64 {
	size, slide := s.seconds()
	if size <= hour {
		// Instants: the multiples of slide in (t-size, t].
		w := floorTo(t, slide) - size + slide
		for ; w <= t; w += slide {
			dst = append(dst, w)
		}
		return dst
	}
	if t >= fastFrom {
		// Fixed offset: B(W) = W - fixedOff.
		wall := t + fixedOff
		w := floorTo(wall, slide) - size + slide
		for ; w <= wall; w += slide {
			dst = append(dst, w-fixedOff)
		}
		return dst
	}
	// Exact path. The windows holding t are those of the readings W,
	// multiples of slide, with B(W) <= t < B(W+size), that is
	// M-size < W <= M where M is the latest reading the clock has shown by
	// t. A start shared with an earlier reading belongs to that reading's
	// window, which holds t only if that reading is in range too.
	m := maxWall(t)
	w := floorTo(m, slide) - size + slide
	prev := boundary(w - slide)
	for ; w <= m; w += slide {
		b := boundary(w)
		if b != prev {
			dst = append(dst, b)
		}
		prev = b
	}
	return dst
}

// End is the end (exclusive, Unix seconds) of the window starting at start,
// which must be a start Windows returns. For sizes dividing one hour it is
// start+Size. For whole-hour sizes the window ends where the wall clock first
// shows its start reading plus Size, so at a daylight saving time change it
// can be 1h shorter or longer (a São Paulo day of 23 or 25 hours).
func (s Spec) End(start int64) int64 {
	size, slide := s.seconds()
	if size <= hour || start >= fastFrom {
		return start + size
	}
	// The reading naming the window: the earliest multiple of slide whose
	// boundary is start, the first after the latest reading before it.
	w := floorTo(maxWall(start-1), slide) + slide
	return boundary(w + size)
}

// Label formats a window boundary as RFC 3339 in São Paulo, e.g.
// 2019-02-16T23:00:00-03:00.
func Label(t int64) string {
	return time.Unix(t, 0).In(order.SaoPaulo).Format(time.RFC3339)
}

// floorTo rounds x down to a multiple of m > 0.
func floorTo(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return x - r
}

// São Paulo's offsets as intervals: from starts[i] (Unix seconds) up to
// starts[i+1] the offset is offs[i] seconds, and the largest wall reading
// shown in the interval is tops[i]. tops rises strictly, since every interval
// is far longer than any fall-back.
var starts, offs, tops = intervals(order.SaoPaulo)

// fixedOff is the offset after the last change; fastFrom is two days after
// that change, from when a window's boundaries are all readings minus
// fixedOff.
var fixedOff = offs[len(offs)-1]
var fastFrom = fastStart()

func fastStart() int64 {
	if len(starts) == 1 {
		return math.MinInt64 + 4*day
	}
	return starts[len(starts)-1] + 2*day
}

// intervals lists the offsets of loc as above. Offset changes after 2200
// are ignored.
func intervals(loc *time.Location) (starts, offs, tops []int64) {
	t := time.Unix(-5e9, 0).In(loc) // 1811
	_, o := t.Zone()
	starts = []int64{math.MinInt64}
	offs = []int64{int64(o)}
	for t.Year() < 2200 {
		_, end := t.ZoneBounds()
		if end.IsZero() {
			break
		}
		end = end.In(loc)
		if _, o := end.Zone(); int64(o) != offs[len(offs)-1] {
			starts = append(starts, end.Unix())
			offs = append(offs, int64(o))
		}
		t = end
	}
	tops = make([]int64, len(starts))
	for i := range starts {
		if i+1 < len(starts) {
			tops[i] = starts[i+1] - 1 + offs[i]
		} else {
			tops[i] = math.MaxInt64
		}
	}
	for i := 1; i < len(tops); i++ {
		if tops[i] <= tops[i-1] {
			panic("window: São Paulo offset intervals too short")
		}
	}
	return starts, offs, tops
}

// interval returns the index of the interval holding instant t.
func interval(t int64) int {
	lo, hi := 1, len(starts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if starts[m] <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// maxWall is the latest wall reading the clock has shown by instant t: its
// reading at t, or, during an hour the clocks repeat, the last reading
// before they fell back.
func maxWall(t int64) int64 {
	i := interval(t)
	w := t + offs[i]
	if i > 0 && tops[i-1] > w {
		return tops[i-1]
	}
	return w
}

// boundary is B(wall): the first instant at which the clock shows wall or
// later. It is in the first interval whose top reaches wall: at wall's
// instant in that interval's offset, or at its start if the clocks jumped
// past wall there.
func boundary(wall int64) int64 {
	lo, hi := 0, len(tops)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if tops[m] < wall {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(wall-offs[lo], starts[lo])
}
