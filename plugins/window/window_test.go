package window

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func unix(t *testing.T, rfc3339 string) int64 {
	t.Helper()
	v, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		t.Fatal(err)
	}
	return v.Unix()
}

func mustParse(t testing.TB, size, slide time.Duration) Spec {
	t.Helper()
	s, err := Parse(size, slide)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// one returns the single window of a tumbling spec holding at.
func one(t *testing.T, s Spec, at int64) int64 {
	t.Helper()
	ws := s.Windows(nil, at)
	if len(ws) != 1 {
		t.Fatalf("%v: Windows(%s) = %v, want one window", s, Label(at), labels(ws))
	}
	return ws[0]
}

func labels(ws []int64) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = Label(w)
	}
	return out
}

// sizes are every size Parse accepts.
func sizes() []time.Duration {
	var out []time.Duration
	for n := int64(1); n <= hour; n++ {
		if hour%n == 0 {
			out = append(out, time.Duration(n)*time.Second)
		}
	}
	for _, h := range []int{2, 3, 4, 6, 8, 12, 24} {
		out = append(out, time.Duration(h)*time.Hour)
	}
	return out
}

func TestDay2018JumpForward(t *testing.T) {
	s := mustParse(t, 24*time.Hour, 0)
	w := one(t, s, unix(t, "2018-11-04T12:00:00-02:00"))
	if got, want := Label(w), "2018-11-04T01:00:00-02:00"; got != want {
		t.Errorf("start %s, want %s", got, want)
	}
	if got, want := Label(s.End(w)), "2018-11-05T00:00:00-02:00"; got != want {
		t.Errorf("end %s, want %s", got, want)
	}
	if got := s.End(w) - w; got != 23*hour {
		t.Errorf("2018-11-04 lasts %v, want 23h", time.Duration(got)*time.Second)
	}
	// The first instant of the day belongs to it, the last before not.
	if got := one(t, s, w); got != w {
		t.Errorf("window of its own start %s is %s", Label(w), Label(got))
	}
	prev := one(t, s, w-1)
	if got, want := Label(prev), "2018-11-03T00:00:00-03:00"; got != want {
		t.Errorf("previous day starts %s, want %s", got, want)
	}
	if s.End(prev) != w || w-prev != 24*hour {
		t.Errorf("2018-11-03 is [%s, %s), want 24h ending at %s", Label(prev), Label(s.End(prev)), Label(w))
	}
}

func TestDay2019FallBack(t *testing.T) {
	s := mustParse(t, 24*time.Hour, 0)
	w := one(t, s, unix(t, "2019-02-16T23:30:00-03:00"))
	if got, want := Label(w), "2019-02-16T00:00:00-02:00"; got != want {
		t.Errorf("start %s, want %s", got, want)
	}
	end := s.End(w)
	if got, want := Label(end), "2019-02-17T00:00:00-03:00"; got != want {
		t.Errorf("end %s, want %s", got, want)
	}
	if end-w != 25*hour {
		t.Errorf("2019-02-16 lasts %v, want 25h", time.Duration(end-w)*time.Second)
	}
	for _, at := range []string{"2019-02-16T23:30:00-02:00", "2019-02-16T23:00:00-03:00", "2019-02-16T23:59:59-03:00"} {
		if got := one(t, s, unix(t, at)); got != w {
			t.Errorf("%s in window %s, want %s", at, Label(got), Label(w))
		}
	}
	if got := one(t, s, end); got != end || s.End(end)-end != 24*hour {
		t.Errorf("next day: window %s length %d", Label(got), s.End(end)-end)
	}

	// 1h windows: 25 distinct windows tile the local day.
	h := mustParse(t, time.Hour, 0)
	var starts []int64
	for x := w; x < end; x = h.End(x) {
		starts = append(starts, one(t, h, x))
		if starts[len(starts)-1] != x {
			t.Fatalf("1h window of %s starts %s", Label(x), Label(starts[len(starts)-1]))
		}
	}
	if len(starts) != 25 {
		t.Fatalf("%d 1h windows in 2019-02-16, want 25: %v", len(starts), labels(starts))
	}
	var at23 []string
	for _, x := range starts {
		if l := Label(x); strings.HasPrefix(l, "2019-02-16T23:00:00") {
			at23 = append(at23, l)
		}
	}
	if want := []string{"2019-02-16T23:00:00-02:00", "2019-02-16T23:00:00-03:00"}; !slices.Equal(at23, want) {
		t.Errorf("23:00 windows %v, want %v", at23, want)
	}
}

// TestHoursAroundChanges lists the 6h and 12h windows of the days around the
// two changes.
func TestHoursAroundChanges(t *testing.T) {
	cases := []struct {
		size       time.Duration
		from, to   string
		want       []string // starts, each window ending at the next
		lastLength int64
	}{
		{6 * time.Hour, "2018-11-03T12:00:00-03:00", "2018-11-05T00:00:00-02:00", []string{
			"2018-11-03T12:00:00-03:00",
			"2018-11-03T18:00:00-03:00",
			"2018-11-04T01:00:00-02:00", // 5h: 00:00 never shown
			"2018-11-04T06:00:00-02:00",
			"2018-11-04T12:00:00-02:00",
			"2018-11-04T18:00:00-02:00",
			"2018-11-05T00:00:00-02:00",
		}, 6 * hour},
		{12 * time.Hour, "2018-11-03T00:00:00-03:00", "2018-11-05T00:00:00-02:00", []string{
			"2018-11-03T00:00:00-03:00",
			"2018-11-03T12:00:00-03:00",
			"2018-11-04T01:00:00-02:00", // 11h
			"2018-11-04T12:00:00-02:00",
			"2018-11-05T00:00:00-02:00",
		}, 12 * hour},
		{6 * time.Hour, "2019-02-16T12:00:00-02:00", "2019-02-17T06:00:00-03:00", []string{
			"2019-02-16T12:00:00-02:00",
			"2019-02-16T18:00:00-02:00", // 7h: 23:00-00:00 twice
			"2019-02-17T00:00:00-03:00",
			"2019-02-17T06:00:00-03:00",
		}, 6 * hour},
		{12 * time.Hour, "2019-02-16T00:00:00-02:00", "2019-02-17T12:00:00-03:00", []string{
			"2019-02-16T00:00:00-02:00",
			"2019-02-16T12:00:00-02:00", // 13h
			"2019-02-17T00:00:00-03:00",
			"2019-02-17T12:00:00-03:00",
		}, 12 * hour},
	}
	for _, c := range cases {
		s := mustParse(t, c.size, 0)
		var got []string
		from, to := unix(t, c.from), unix(t, c.to)
		for x := from; x <= to; x = s.End(x) {
			w := one(t, s, x)
			if w != x {
				t.Fatalf("%v: window of %s starts %s", c.size, Label(x), Label(w))
			}
			// Every second's window of a sample is this one.
			for y := x; y < s.End(x); y += 601 {
				if got := one(t, s, y); got != w {
					t.Fatalf("%v: %s in %s, want %s", c.size, Label(y), Label(got), Label(w))
				}
			}
			if got := one(t, s, s.End(x)-1); got != w {
				t.Fatalf("%v: %s in %s, want %s", c.size, Label(s.End(x)-1), Label(got), Label(w))
			}
			got = append(got, Label(w))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%v windows:\n got %v\nwant %v", c.size, got, c.want)
		}
		if last := unix(t, c.want[len(c.want)-1]); s.End(last)-last != c.lastLength {
			t.Errorf("%v: last window %d s", c.size, s.End(last)-last)
		}
	}
}

func TestHoppingAcrossJump(t *testing.T) {
	// 24h every 1h: 00:00 and 01:00 of 2018-11-04 share the start 01:00,
	// which names the local-day window.
	s := mustParse(t, 24*time.Hour, time.Hour)
	if !s.Hopping() {
		t.Fatal("24h/1h not hopping")
	}
	at := unix(t, "2018-11-04T12:30:00-02:00")
	ws := s.Windows(nil, at)
	day := unix(t, "2018-11-04T01:00:00-02:00")
	if !slices.Contains(ws, day) || s.End(day)-day != 23*hour {
		t.Errorf("windows %v lack the 23h local day", labels(ws))
	}
	// Readings 2018-11-03 13:00 .. 2018-11-04 12:00, with 00:00 and 01:00
	// one window.
	if len(ws) != 23 || ws[0] != unix(t, "2018-11-03T13:00:00-03:00") {
		t.Errorf("%d windows, want 23 from 2018-11-03T13:00:00-03:00: %v", len(ws), labels(ws))
	}
	// 2018-11-05 00:30: the window of reading 2018-11-04 01:00 is merged
	// into that of 00:00, which no longer holds it.
	at = unix(t, "2018-11-05T00:30:00-02:00")
	ws = s.Windows(nil, at)
	if len(ws) != 23 || ws[0] != unix(t, "2018-11-04T02:00:00-02:00") {
		t.Errorf("windows %v, want 23 from 2018-11-04T02:00:00-02:00", labels(ws))
	}
}

func TestParse(t *testing.T) {
	good := [][2]time.Duration{
		{time.Second, 0}, {8 * time.Second, 0}, {5 * time.Minute, time.Minute}, {time.Hour, 0},
		{time.Hour, 20 * time.Minute}, {24 * time.Hour, 0}, {24 * time.Hour, 6 * time.Hour},
		{24 * time.Hour, 30 * time.Minute}, {6 * time.Hour, 2 * time.Hour}, {8 * time.Hour, 4 * time.Hour},
	}
	for _, g := range good {
		s, err := Parse(g[0], g[1])
		if err != nil {
			t.Errorf("Parse(%v, %v): %v", g[0], g[1], err)
			continue
		}
		if want := g[1]; want == 0 && s.Slide != g[0] || want != 0 && s.Slide != want {
			t.Errorf("Parse(%v, %v).Slide = %v", g[0], g[1], s.Slide)
		}
		if s.Hopping() != (g[1] != 0 && g[1] < g[0]) {
			t.Errorf("Parse(%v, %v).Hopping() = %v", g[0], g[1], s.Hopping())
		}
	}
	bad := []struct {
		size, slide time.Duration
		want        string
	}{
		{7 * time.Second, 0, "window 7s: must be"},
		{7 * time.Minute, 0, "window 7m0s: must be a whole number of seconds dividing 1h"},
		{5 * time.Hour, 0, "window 5h0m0s: must be"},
		{90 * time.Minute, 0, "window 1h30m0s: must be"},
		{25 * time.Hour, 0, "window 25h0m0s: must be"},
		{48 * time.Hour, 0, "window 48h0m0s: must be"},
		{0, 0, "window 0s: must be positive"},
		{-time.Hour, 0, "window -1h0m0s: must be positive"},
		{1500 * time.Millisecond, 0, "window 1.5s: must be whole seconds"},
		{time.Millisecond, 0, "window 1ms: must be whole seconds"},
		{6 * time.Hour, 4 * time.Hour, "slide 4h0m0s: must divide window 6h0m0s"},
		{time.Hour, 2 * time.Hour, "slide 2h0m0s: must divide window 1h0m0s"},
		{time.Hour, 7 * time.Minute, "slide 7m0s: must be a whole number"},
		{3 * time.Hour, 90 * time.Minute, "slide 1h30m0s: must be"},
		{time.Hour, -time.Minute, "slide -1m0s: must be positive"},
		{time.Hour, 500 * time.Millisecond, "slide 500ms: must be whole seconds"},
	}
	for _, b := range bad {
		_, err := Parse(b.size, b.slide)
		if err == nil || !strings.HasPrefix(err.Error(), b.want) {
			t.Errorf("Parse(%v, %v) = %v, want %q...", b.size, b.slide, err, b.want)
		} else if !strings.Contains(err.Error(), "must") {
			t.Errorf("Parse(%v, %v) = %v: does not say what is allowed", b.size, b.slide, err)
		}
	}
	_, err := Parse(5*time.Hour, 0)
	if !strings.Contains(err.Error(), "2h, 3h, 4h, 6h, 8h, 12h, 24h") {
		t.Errorf("error %q does not list the hour sizes", err)
	}
}

func TestLabel(t *testing.T) {
	if got, want := Label(unix(t, "2019-02-17T02:00:00Z")), "2019-02-16T23:00:00-03:00"; got != want {
		t.Errorf("Label = %s, want %s", got, want)
	}
}

// changeNear reports whether São Paulo's offset changes within two days of t.
func changeNear(t int64) bool {
	_, a := time.Unix(t-2*day, 0).In(order.SaoPaulo).Zone()
	_, b := time.Unix(t+2*day, 0).In(order.SaoPaulo).Zone()
	if a != b {
		return true
	}
	i := interval(t - 2*day)
	return i+1 < len(starts) && starts[i+1] <= t+2*day
}

func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	// Random times, plus times near every offset change in the range.
	var near []int64
	for i, at := range starts {
		if i > 0 && at >= lo && at < hi {
			for d := int64(-2 * hour); d <= 2*hour; d += 900 {
				near = append(near, at+d, at+d-1)
			}
		}
	}
	var specs []Spec
	for _, size := range sizes() {
		n := int64(size / time.Second)
		for _, slide := range sizes() {
			m := int64(slide / time.Second)
			if n%m == 0 && (slide == size || rng.IntN(4) == 0) {
				specs = append(specs, mustParse(t, size, slide))
			}
		}
	}
	buf := make([]int64, 0, 86400)
	for _, s := range specs {
		size, slide := s.seconds()
		times := slices.Clone(near)
		if size/slide > 200 {
			// Many windows each: a sample is enough.
			rng.Shuffle(len(times), func(i, j int) { times[i], times[j] = times[j], times[i] })
			times = times[:100]
		}
		for range 500 {
			times = append(times, lo+rng.Int64N(hi-lo))
		}
		for _, at := range times {
			ws := s.Windows(buf[:0], at)
			if len(ws) == 0 {
				t.Fatalf("%v: no window holds %s", s, Label(at))
			}
			for i, w := range ws {
				if !(w <= at && at < s.End(w)) {
					t.Fatalf("%v: window [%s, %s) does not hold %s", s, Label(w), Label(s.End(w)), Label(at))
				}
				if i > 0 && w <= ws[i-1] {
					t.Fatalf("%v: windows of %s not oldest first: %v", s, Label(at), labels(ws))
				}
				if l := s.End(w) - w; l < size-hour || l > size+hour || size <= hour && l != size {
					t.Fatalf("%v: window %s lasts %d s", s, Label(w), l)
				}
			}
			near := size > hour && changeNear(at)
			if !s.Hopping() {
				// Tiling: the window of the end starts at the end, and the
				// previous second is in this one.
				w := ws[0]
				if next := s.Windows(buf[1:1], s.End(w)); len(next) != 1 || next[0] != s.End(w) {
					t.Fatalf("%v: window after [%s, %s) is %v", s, Label(w), Label(s.End(w)), labels(next))
				}
				if prev := s.Windows(buf[1:1], s.End(w)-1); prev[0] != w {
					t.Fatalf("%v: %s not in %s", s, Label(s.End(w)-1), Label(w))
				}
			} else if !near && int64(len(ws)) != size/slide {
				t.Fatalf("%v: %d windows for %s, want %d", s, len(ws), Label(at), size/slide)
			} else if int64(len(ws)) > size/slide {
				t.Fatalf("%v: %d windows for %s, more than %d", s, len(ws), Label(at), size/slide)
			}
			if size > hour && !near && at > unix(t, "2019-03-01T00:00:00-03:00") {
				// No DST since 2019: every window is its nominal length
				// and starts at a multiple of the slide on the -03:00 clock.
				for _, w := range ws {
					if s.End(w)-w != size || (w-3*hour)%slide != 0 {
						t.Fatalf("%v: window %s lasts %d", s, Label(w), s.End(w)-w)
					}
				}
			}
			if size > hour && slide >= 900 {
				checkReference(t, s, at, ws)
			}
		}
	}
}

var refMemo = map[int64]int64{}

// refBoundary is B(wall) by the definition, from the time package alone:
// the first instant at which the São Paulo clock shows wall or later. That
// instant is either wall in some nearby offset or an offset change.
func refBoundary(wall int64) int64 {
	if b, ok := refMemo[wall]; ok {
		return b
	}
	reading := func(x int64) int64 {
		_, o := time.Unix(x, 0).In(order.SaoPaulo).Zone()
		return x + int64(o)
	}
	var cands []int64
	for x := wall - 6*hour; x <= wall+6*hour; x += 900 {
		_, o := time.Unix(x, 0).In(order.SaoPaulo).Zone()
		cands = append(cands, wall-int64(o))
		start, _ := time.Unix(x, 0).In(order.SaoPaulo).ZoneBounds()
		cands = append(cands, start.Unix())
	}
	best := int64(1 << 62)
	for _, c := range cands {
		if c < best && reading(c) >= wall && reading(c-1) < wall {
			best = c
		}
	}
	// Nothing earlier shows wall or later.
	for x := best - 6*hour; x < best; x += 60 {
		if reading(x) >= wall {
			panic("refBoundary: not the first")
		}
	}
	refMemo[wall] = best
	return best
}

// checkReference compares ws with the windows holding at by the package
// doc's definition: for readings W (multiples of the slide), windows
// [B(W), B(W+size)), one per start, named by the earliest reading.
func checkReference(t *testing.T, s Spec, at int64, ws []int64) {
	t.Helper()
	size, slide := s.seconds()
	_, o := time.Unix(at, 0).In(order.SaoPaulo).Zone()
	wall := at + int64(o)
	var want []int64
	seen := map[int64]bool{}
	for w := floorTo(wall-size-3*hour, slide); w <= wall+3*hour; w += slide {
		b := refBoundary(w)
		if seen[b] {
			continue
		}
		seen[b] = true
		if b <= at && at < refBoundary(w+size) {
			want = append(want, b)
		}
	}
	if !slices.Equal(ws, want) {
		t.Fatalf("%v at %s: windows %v, reference %v", s, Label(at), labels(ws), labels(want))
	}
}

// TestTable compares the offset table with the time package.
func TestTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		at := rng.Int64N(5e9) - 2e9 // 1906..2128
		_, o := time.Unix(at, 0).In(order.SaoPaulo).Zone()
		if got := offs[interval(at)]; got != int64(o) {
			t.Fatalf("offset at %s: %d, want %d", Label(at), got, o)
		}
	}
	if fastFrom > unix(t, "2019-02-20T00:00:00-03:00") || fixedOff != -3*hour {
		t.Errorf("fast path from %s offset %d", Label(fastFrom), fixedOff)
	}
}

func BenchmarkWindowsHour(b *testing.B) {
	benchWindows(b, time.Hour, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix(), 0)
}

func BenchmarkWindowsDay(b *testing.B) {
	benchWindows(b, 24*time.Hour, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Unix(), 0)
}

func BenchmarkWindowsDayExact(b *testing.B) {
	benchWindows(b, 24*time.Hour, time.Date(2018, 11, 1, 0, 0, 0, 0, time.UTC).Unix(), 8*day)
}

// benchWindows times Windows for tumbling windows of size at event times
// from t on, one second apart (wrapping every wrap seconds, when not 0).
func benchWindows(b *testing.B, size time.Duration, t, wrap int64) {
	s := mustParse(b, size, 0)
	dst := make([]int64, 0, 1)
	b.ReportAllocs()
	for i := range b.N {
		off := int64(i)
		if wrap > 0 {
			off %= wrap
		}
		dst = s.Windows(dst[:0], t+off)
	}
	if len(dst) != 1 {
		b.Fatal(dst)
	}
}

func TestNoAllocs(t *testing.T) {
	exact := time.Date(2018, 11, 4, 12, 0, 0, 0, time.UTC).Unix()
	fast := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Unix()
	for _, c := range []struct {
		size, slide time.Duration
		at          int64
	}{
		{time.Hour, 0, fast}, {5 * time.Minute, time.Minute, fast},
		{24 * time.Hour, 0, fast}, {24 * time.Hour, 0, exact},
		{6 * time.Hour, time.Hour, fast}, {6 * time.Hour, time.Hour, exact},
	} {
		s := mustParse(t, c.size, c.slide)
		dst := make([]int64, 0, 8)
		if n := testing.AllocsPerRun(100, func() { dst = s.Windows(dst[:0], c.at) }); n != 0 {
			t.Errorf("%v at %s: %v allocs", s, Label(c.at), n)
		}
	}
}
