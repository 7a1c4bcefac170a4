package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
	"github.com/vendas-connect/vendas-connect/plugins/window"
)

// MetaWindow is on window messages: "final" for a window's first emission,
// "revisao" for an amendment.
const MetaWindow = "sales_window"

// maxWindowSlots bounds max_window_products: at up to about 30 bytes per
// slot in a state record, 500 000 stay under the state topic's 16 MiB.
const maxWindowSlots = 500_000

// noTime marks an event time or a watermark not known yet.
const noTime = math.MinInt64

// windowConf is the windowing of a sales_aggregate, from its config.
type windowConf struct {
	spec      window.Spec
	lateness  int64         // allowed_lateness, seconds
	idle      time.Duration // idle_timeout; 0: a partition is never idle
	retention int64         // seconds a window is kept after it closed
	dedupe    bool          // count an id_ordem once within the watermark's horizon
	maxFuture int64         // seconds an event time may be ahead of the clock; 0: any
	maxSlots  int           // max_window_products: product slots over a partition's windows
}

// windowShared is what every partition of one buffer shares: how far windows
// are closed, and what was emitted of each. Guarded by the buffer's mu.
type windowShared struct {
	conf windowConf
	// closed only grows: a window ending at or before it is final.
	closed int64
	// emitted is, per window start, its last emission.
	emitted map[int64]emittedWindow
	starts  []int64 // scratch for window.Spec.Windows
	// now is the clock (Unix seconds) when the batch being counted came.
	now int64
	// durable: the state goes to a state topic, and a restore reads records
	// again (tooOld is kept for them).
	durable bool
	// seen remembers, per partition counted elsewhere, its greatest event
	// time and when it last grew, for idleness.
	seen map[TopicPartition]seenEvent
}

type seenEvent struct {
	maxEvent int64
	at       time.Time
}

// emittedWindow is a window's last emission: its revision (1 for the final
// one) and how many orders it held, over every partition.
type emittedWindow struct {
	rev    int32
	orders int64
}

func newWindowShared(c windowConf) *windowShared {
	return &windowShared{conf: c, closed: noTime, emitted: map[int64]emittedWindow{}, seen: map[TopicPartition]seenEvent{}}
}

// evicted reports whether the window starting at start is past retention.
func (sh *windowShared) evicted(start int64) bool {
	return sh.closed != noTime && sh.conf.spec.End(start)+sh.conf.retention <= sh.closed
}

// partWindows are the windows of one partition (an Aggregator's).
type partWindows struct {
	sh       *windowShared
	maxEvent int64 // the greatest event time counted, or noTime
	grew     bool  // maxEvent grew since the last tick
	lastGrew time.Time
	wins     map[int64]*winTotals
	// tooOld are the offsets of records rejected for being older than
	// retention allows whose rejected record may not have reached the
	// output: a restore judges them again from here, not from the watermark.
	tooOld map[int64]struct{}

	cacheStart, cacheEnd int64 // tumbling: the window of the last order
	cache                *winTotals
	cur                  []*winTotals // scratch: the windows of the order being added
	curStarts            []int64

	dedupe *dedupeSet // nil without dedupe
	// slots is the number of product slots over the windows (the sum of
	// their len(prods)): what memory and the state record grow with.
	slots int
}

// duplicate reports whether the order with id hash h, at offset off and
// event time t, was counted already; if not, its id is remembered until the
// watermark passes the later of t and the partition's watermark now. A
// replay (a record counted before a restore, read again) counts nothing.
func (w *partWindows) duplicate(h uint64, off, t int64, replay bool) bool {
	sh := w.sh
	if w.dedupe.seen(h, sh.closed, sh.conf.lateness) {
		if !replay {
			w.dedupe.dups++
		}
		return true
	}
	expiry := t
	if w.maxEvent != noTime {
		expiry = max(expiry, w.maxEvent-sh.conf.lateness)
	}
	w.dedupe.remember(h, off, expiry)
	return false
}

// winTotals are one window's totals in one partition.
type winTotals struct {
	orders, late int64
	value        order.Cents
	prods        []winProd // by the partition's product index
	// st is the window as the last state record wrote it, with its JSON;
	// nil once the window changed. Most windows of a partition do not
	// change between two writes, so each write encodes few of them.
	st *stateWindow
}

type winProd struct {
	units, orders int64
	value         order.Cents
}

func newPartWindows(sh *windowShared) *partWindows {
	w := &partWindows{sh: sh, maxEvent: noTime, wins: map[int64]*winTotals{}, tooOld: map[int64]struct{}{}, cacheStart: 1, cacheEnd: 0}
	if sh.conf.dedupe {
		w.dedupe = newDedupeSet()
	}
	return w
}

// check refuses an order whose every window is past retention.
func (w *partWindows) check(t int64) error {
	sh := w.sh
	if sh.conf.maxFuture > 0 && sh.now != 0 && t > sh.now+sh.conf.maxFuture {
		return fmt.Errorf("%s: the sale at %s is %s ahead of this consumer's clock (%s), more than field %s allows (%s): counted, it would close every window before it",
			order.FieldSoldAt, window.Label(t), time.Duration(t-sh.now)*time.Second, window.Label(sh.now), fieldMaxFuture, time.Duration(sh.conf.maxFuture)*time.Second)
	}
	if sh.closed == noTime {
		return nil
	}
	sh.starts = sh.conf.spec.Windows(sh.starts[:0], t)
	newest := sh.starts[len(sh.starts)-1]
	if !sh.evicted(newest) {
		return nil
	}
	return fmt.Errorf("%s: the sale at %s is older than the windows kept: its window %s to %s closed and was evicted (retention %s, windows closed up to %s)",
		order.FieldSoldAt, window.Label(t), window.Label(newest), window.Label(sh.conf.spec.End(newest)),
		time.Duration(sh.conf.retention)*time.Second, window.Label(sh.closed))
}

// checkSlots refuses an order at event time t that would take the product
// slots of the partition's windows past max_window_products, when its
// products have indexes below need. A window's slots grow to its highest
// product index, so need is a bound, not the exact growth.
func (w *partWindows) checkSlots(t int64, need int) error {
	sh := w.sh
	perOrder := 1 // windows an order is in, at most
	if sh.conf.spec.Hopping() {
		perOrder = int(sh.conf.spec.Size / sh.conf.spec.Slide)
	}
	if w.slots+need*perOrder <= sh.conf.maxSlots {
		return nil // the hot path: far from the limit
	}
	growth := 0
	sh.starts = sh.conf.spec.Windows(sh.starts[:0], t)
	for _, s := range sh.starts {
		if sh.evicted(s) {
			continue
		}
		have := 0
		if wt := w.wins[s]; wt != nil {
			have = len(wt.prods)
		}
		growth += max(need-have, 0)
	}
	if growth == 0 || w.slots+growth <= sh.conf.maxSlots {
		return nil
	}
	return fmt.Errorf("%s: the windows of this partition hold %d product slots (%d windows), and this order would take them past the limit of field %s (%d): a partition's windows are one Kafka record and stay in memory",
		order.FieldProducts, w.slots, len(w.wins), fieldMaxSlots, sh.conf.maxSlots)
}

// windowsOf returns the windows the order at event time t counts in,
// creating them, with their starts in w.curStarts.
func (w *partWindows) windowsOf(t int64) []*winTotals {
	w.cur, w.curStarts = w.cur[:0], w.curStarts[:0]
	sh := w.sh
	if !sh.conf.spec.Hopping() && t >= w.cacheStart && t < w.cacheEnd {
		w.cur = append(w.cur, w.cache)
		w.curStarts = append(w.curStarts, w.cacheStart)
		return w.cur
	}
	sh.starts = sh.conf.spec.Windows(sh.starts[:0], t)
	for _, s := range sh.starts {
		if sh.evicted(s) {
			continue
		}
		wt := w.wins[s]
		if wt == nil {
			wt = &winTotals{}
			w.wins[s] = wt
		}
		w.cur = append(w.cur, wt)
		w.curStarts = append(w.curStarts, s)
	}
	if !sh.conf.spec.Hopping() && len(w.cur) == 1 {
		w.cacheStart, w.cacheEnd, w.cache = w.curStarts[0], sh.conf.spec.End(w.curStarts[0]), w.cur[0]
	}
	return w.cur
}

// forget drops the windows past retention, and the ids past the horizon.
func (w *partWindows) forget() {
	if w.dedupe != nil {
		w.dedupe.forget(w.sh.closed, w.sh.conf.lateness)
	}
	for s, wt := range w.wins {
		if w.sh.evicted(s) {
			w.slots -= len(wt.prods)
			delete(w.wins, s)
		}
	}
	w.cacheStart, w.cacheEnd, w.cache = 1, 0, nil
}

// addOrder counts o (event time t), whose products are at idx in the
// partition's products; first[i] says whether item i is the product's first
// occurrence in the order.
func (w *partWindows) addOrder(o *order.Order, t int64, idx []int32, first []bool) {
	wins := w.windowsOf(t)
	sh := w.sh
	for k, wt := range wins {
		wt.st = nil
		for i := range o.Items {
			it := &o.Items[i]
			pi := int(idx[i])
			if pi >= len(wt.prods) {
				w.slots += pi + 1 - len(wt.prods)
				wt.prods = append(wt.prods, make([]winProd, pi+1-len(wt.prods))...)
			}
			p := &wt.prods[pi]
			p.units += it.Quantity
			p.value += order.Cents(it.Quantity) * it.UnitPrice
			if first[i] {
				p.orders++
			}
		}
		wt.orders++
		wt.value += o.Total
		if len(sh.emitted) > 0 {
			if _, ok := sh.emitted[w.curStarts[k]]; ok {
				wt.late++ // its window was emitted: an amendment will follow
			}
		}
	}
	if t > w.maxEvent {
		w.maxEvent, w.grew = t, true
	}
}

// stateWindow is one window of a partition in the state topic.
type stateWindow struct {
	Start        int64
	Orders, Late int64
	Value        order.Cents
	Prods        []stateWinProd
	enc          []byte // its JSON in a state record, when known
}

type stateWinProd struct {
	Idx           int32 // index in the partition's products
	Units, Orders int64
	Value         order.Cents
}

// stateMark is an emitted window in the state topic.
type stateMark struct {
	Start  int64
	Rev    int32
	Orders int64
}

// windowsState copies w for a state record.
func (w *partWindows) windowsState() []stateWindow {
	out := make([]stateWindow, 0, len(w.wins))
	for s, wt := range w.wins {
		if wt.st == nil {
			sw := &stateWindow{Start: s, Orders: wt.orders, Late: wt.late, Value: wt.value}
			for i, p := range wt.prods {
				if p.units != 0 || p.orders != 0 {
					sw.Prods = append(sw.Prods, stateWinProd{Idx: int32(i), Units: p.units, Orders: p.orders, Value: p.value})
				}
			}
			sw.enc = appendStateWindow(nil, sw)
			wt.st = sw // not changed after: a written state may hold it
		}
		out = append(out, *wt.st)
	}
	slices.SortFunc(out, func(a, b stateWindow) int { return cmpInt64(a.Start, b.Start) })
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// marks copies the emitted windows for a state record.
func (sh *windowShared) marks() []stateMark {
	out := make([]stateMark, 0, len(sh.emitted))
	for s, e := range sh.emitted {
		out = append(out, stateMark{Start: s, Rev: e.rev, Orders: e.orders})
	}
	slices.SortFunc(out, func(a, b stateMark) int { return cmpInt64(a.Start, b.Start) })
	return out
}

// learn takes in what a state record says was closed and emitted.
func (sh *windowShared) learn(closed int64, marks []stateMark) {
	if closed > sh.closed {
		sh.closed = closed
	}
	for _, m := range marks {
		if sh.evicted(m.Start) {
			continue
		}
		if e, ok := sh.emitted[m.Start]; !ok || m.Rev > e.rev || (m.Rev == e.rev && m.Orders > e.orders) {
			sh.emitted[m.Start] = emittedWindow{rev: m.Rev, orders: m.Orders}
		}
	}
}

// restoreWindows loads a partition's windows from its state record.
func (w *partWindows) restore(s *partitionState) {
	w.maxEvent = s.MaxEvent
	for _, sw := range s.Windows {
		wt := &winTotals{orders: sw.Orders, late: sw.Late, value: sw.Value}
		for _, p := range sw.Prods {
			if int(p.Idx) >= len(wt.prods) {
				w.slots += int(p.Idx) + 1 - len(wt.prods)
				wt.prods = append(wt.prods, make([]winProd, int(p.Idx)+1-len(wt.prods))...)
			}
			wt.prods[p.Idx] = winProd{units: p.Units, orders: p.Orders, value: p.Value}
		}
		w.wins[sw.Start] = wt
	}
	for _, off := range s.TooOld {
		w.tooOld[off] = struct{}{}
	}
	w.sh.learn(s.Closed, s.Marks)
}

// combinedWindow is a window over every partition, as emitted.
type combinedWindow struct {
	start, end   int64
	orders, late int64
	value        order.Cents
	products     map[string]*ProductTotals
	rev          int32
}

func (c *combinedWindow) add(name string, units, orders int64, value order.Cents) {
	p := c.products[name]
	if p == nil {
		p = &ProductTotals{Name: name}
		c.products[name] = p
	}
	p.Units += units
	p.Orders += orders
	p.Value += value
}

// windowSource is a partition's windows as the emission reads them: one this
// member counts, or one from the state topic.
type windowSource struct {
	tp       TopicPartition
	maxEvent int64
	// assignedAt is set for a partition counted here: when it was assigned.
	assignedAt time.Time
	own        *partWindows
	names      func(int32) string
	state      *partitionState
}

func (src *windowSource) each(fn func(start, orders, late int64, value order.Cents)) {
	if src.own != nil {
		for s, wt := range src.own.wins {
			fn(s, wt.orders, wt.late, wt.value)
		}
		return
	}
	for i := range src.state.Windows {
		sw := &src.state.Windows[i]
		fn(sw.Start, sw.Orders, sw.Late, sw.Value)
	}
}

func (src *windowSource) products(start int64, c *combinedWindow) {
	if src.own != nil {
		if wt := src.own.wins[start]; wt != nil {
			for i, p := range wt.prods {
				if p.units != 0 || p.orders != 0 {
					c.add(src.names(int32(i)), p.units, p.orders, p.value)
				}
			}
		}
		return
	}
	for i := range src.state.Windows {
		sw := &src.state.Windows[i]
		if sw.Start != start {
			continue
		}
		for _, p := range sw.Prods {
			if int(p.Idx) < len(src.state.Products) {
				c.add(src.state.Products[p.Idx].Name, p.Units, p.Orders, p.Value)
			}
		}
	}
}

// combine adds up the window starting at start over every partition.
func combine(srcs []windowSource, start, end int64) *combinedWindow {
	c := &combinedWindow{start: start, end: end, products: map[string]*ProductTotals{}}
	for i := range srcs {
		srcs[i].each(func(s, orders, late int64, value order.Cents) {
			if s == start {
				c.orders += orders
				c.late += late
				c.value += value
			}
		})
		srcs[i].products(start, c)
	}
	return c
}

// windowSourcesLocked lists every partition's windows, as the snapshots
// list their totals: the partitions counted here, then the others from the
// state topic.
func (b *salesAggregate) windowSourcesLocked() []windowSource {
	var out []windowSource
	ownAgg := func(tp TopicPartition, a *Aggregator, assignedAt time.Time) {
		out = append(out, windowSource{tp: tp, maxEvent: a.win.maxEvent, assignedAt: assignedAt, own: a.win, names: func(i int32) string { return a.products[i].Name }})
	}
	if b.mem.win != nil && (len(b.mem.win.wins) > 0 || b.mem.win.maxEvent != noTime) {
		ownAgg(TopicPartition{Partition: -1}, b.mem, time.Time{})
	}
	for _, lp := range b.parts {
		if !lp.live && b.cl != nil {
			if s := b.cl.state(lp.tp); s != nil && s.Next >= lp.next {
				continue
			}
		}
		var at time.Time
		if lp.live {
			at = lp.assignedAt
		}
		ownAgg(lp.tp, lp.agg, at)
	}
	if b.cl != nil {
		b.cl.each(func(s *partitionState) {
			if lp := b.parts[s.tp()]; lp != nil && (lp.live || lp.next > s.Next) {
				return
			}
			out = append(out, windowSource{tp: s.tp(), maxEvent: s.MaxEvent, state: s})
		})
	}
	return out
}

// watermarkLocked is the stream's watermark now: per partition that has
// data, its greatest event time less allowed_lateness; the smallest over the
// partitions not idle, or, when every one is idle, the greatest. A partition
// assigned here with nothing counted yet holds it back for idle_timeout from
// its assignment: a consumer catching up on a backlog does not close windows
// before it has read every partition.
func (b *salesAggregate) watermarkLocked(srcs []windowSource, now time.Time) int64 {
	sh := b.win
	low, high := int64(math.MaxInt64), int64(noTime)
	held := false
	for i := range srcs {
		src := &srcs[i]
		if src.maxEvent == noTime {
			if sh.conf.idle > 0 && !src.assignedAt.IsZero() && now.Sub(src.assignedAt) < sh.conf.idle {
				held = true
			}
			continue
		}
		var last time.Time
		if src.own != nil {
			if src.own.grew || src.own.lastGrew.IsZero() {
				src.own.grew, src.own.lastGrew = false, now
			}
			last = src.own.lastGrew
		} else {
			seen, ok := sh.seen[src.tp]
			if !ok || seen.maxEvent != src.maxEvent {
				seen = seenEvent{maxEvent: src.maxEvent, at: now}
				sh.seen[src.tp] = seen
			}
			last = seen.at
		}
		wm := src.maxEvent - sh.conf.lateness
		high = max(high, wm)
		if sh.conf.idle > 0 && now.Sub(last) >= sh.conf.idle {
			continue
		}
		low = min(low, wm)
	}
	switch {
	case held:
		return noTime
	case low == math.MaxInt64:
		return high
	}
	return low
}

// emitWindowsLocked closes the windows the watermark passed (all of them
// when final) and returns a message for each window closed now and each
// closed window that took in orders since it was emitted, with a function
// that undoes their marks when their delivery fails.
func (b *salesAggregate) emitWindowsLocked(now time.Time, final bool) (service.MessageBatch, func()) {
	sh := b.win
	srcs := b.windowSourcesLocked()
	for i := range srcs {
		if s := srcs[i].state; s != nil {
			sh.learn(s.Closed, s.Marks)
		}
	}
	// Windows the watermark passed are emitted before the ones past
	// retention are evicted, so that a window closing and going past
	// retention at once (a partition that jumped ahead) is still emitted.
	// At the end of the input every window is final; none is evicted for it.
	wm := b.watermarkLocked(srcs, now)
	upTo := max(sh.closed, wm)
	if wm > sh.closed {
		defer b.evictLocked(wm)
	}
	if final && b.connOpts == nil {
		// A finite input ended: every window is final. A Kafka input
		// only stops (a restart, a rolling update): its open windows stay
		// open, for the next owner to close when the watermark says so.
		upTo = math.MaxInt64
	}
	if upTo == noTime {
		return nil, nil
	}
	// Orders per window over every partition.
	type tally struct{ orders, late int64 }
	tallies := map[int64]*tally{}
	for i := range srcs {
		srcs[i].each(func(start, orders, late int64, _ order.Cents) {
			if sh.evicted(start) || sh.conf.spec.End(start) > upTo {
				return
			}
			t := tallies[start]
			if t == nil {
				t = &tally{}
				tallies[start] = t
			}
			t.orders += orders
			t.late += late
		})
	}
	var due []int64
	for start, t := range tallies {
		if e, ok := sh.emitted[start]; !ok || t.orders > e.orders {
			due = append(due, start)
		}
	}
	if len(due) == 0 {
		return nil, nil
	}
	slices.Sort(due)
	prev := make(map[int64]emittedWindow, len(due))
	batch := make(service.MessageBatch, 0, len(due))
	for _, start := range due {
		c := combine(srcs, start, sh.conf.spec.End(start))
		e, had := sh.emitted[start]
		if had {
			prev[start] = e
		}
		c.rev = e.rev + 1
		sh.emitted[start] = emittedWindow{rev: c.rev, orders: c.orders}
		msg := service.NewMessage(appendWindowJSON(nil, c, upTo, now))
		kind := "final"
		if c.rev > 1 {
			kind = "revisao"
		}
		msg.MetaSetMut(MetaWindow, kind)
		batch = append(batch, msg)
	}
	for _, lp := range b.parts {
		if lp.live {
			lp.dirty = true // the marks go with the next write
		}
	}
	undo := func() {
		for _, start := range due {
			if p, ok := prev[start]; ok {
				sh.emitted[start] = p
			} else {
				delete(sh.emitted, start)
			}
		}
	}
	return batch, undo
}

// evictLocked closes windows up to closed and forgets those past retention.
func (b *salesAggregate) evictLocked(closed int64) {
	sh := b.win
	sh.closed = closed
	b.mem.win.forget()
	for _, lp := range b.parts {
		if lp.live {
			lp.agg.win.forget()
			lp.dirty = true
		}
	}
	for s := range sh.emitted {
		if sh.evicted(s) {
			delete(sh.emitted, s)
		}
	}
}

// liveWindowTop is how many products the dashboard lists per window.
const liveWindowTop = 5

// appendLiveWindowsLocked writes the dashboard's windows (CONTRACT section
// 8): the newest window still open and the newest one closed, over every
// partition, or null.
func (b *salesAggregate) appendLiveWindowsLocked(dst []byte) []byte {
	sh := b.win
	srcs := b.windowSourcesLocked()
	open, closed := int64(noTime), int64(noTime)
	for i := range srcs {
		srcs[i].each(func(start, _, _ int64, _ order.Cents) {
			if sh.evicted(start) {
				return
			}
			if sh.closed != noTime && sh.conf.spec.End(start) <= sh.closed {
				if _, ok := sh.emitted[start]; ok {
					closed = max(closed, start)
				}
			} else {
				open = max(open, start)
			}
		})
	}
	dst = append(dst, `,"janelas":{"atual":`...)
	dst = b.appendLiveWindowLocked(dst, srcs, open)
	dst = append(dst, `,"ultima_fechada":`...)
	dst = b.appendLiveWindowLocked(dst, srcs, closed)
	dst = append(dst, `,"fechadas_ate":`...)
	if sh.closed == noTime {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, window.Label(sh.closed)...)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

func (b *salesAggregate) appendLiveWindowLocked(dst []byte, srcs []windowSource, start int64) []byte {
	if start == noTime {
		return append(dst, "null"...)
	}
	c := combine(srcs, start, b.win.conf.spec.End(start))
	rows := make([]*ProductTotals, 0, len(c.products))
	for _, p := range c.products {
		rows = append(rows, p)
	}
	slices.SortFunc(rows, byValueDesc)
	dst = append(dst, `{"inicio":"`...)
	dst = append(dst, window.Label(c.start)...)
	dst = append(dst, `","fim":"`...)
	dst = append(dst, window.Label(c.end)...)
	dst = append(dst, `","revisao":`...)
	dst = strconv.AppendInt(dst, int64(b.win.emitted[start].rev), 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, c.orders, 10)
	dst = append(dst, `,"atrasados":`...)
	dst = strconv.AppendInt(dst, c.late, 10)
	dst = append(dst, `,"valor_total":`...)
	dst = appendMoneyString(dst, c.value)
	dst = append(dst, `,"top":[`...)
	for i, p := range rows[:min(len(rows), liveWindowTop)] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"produto":`...)
		dst = order.AppendString(dst, p.Name)
		dst = append(dst, `,"valor_total":`...)
		dst = appendMoneyString(dst, p.Value)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendWindowJSON writes a window message (CONTRACT.md section 10).
func appendWindowJSON(dst []byte, c *combinedWindow, closed int64, now time.Time) []byte {
	rows := make([]*ProductTotals, 0, len(c.products))
	for _, p := range c.products {
		rows = append(rows, p)
	}
	slices.SortFunc(rows, byValueDesc)
	dst = append(dst, `{"janela":{"inicio":"`...)
	dst = append(dst, window.Label(c.start)...)
	dst = append(dst, `","fim":"`...)
	dst = append(dst, window.Label(c.end)...)
	dst = append(dst, `"},"revisao":`...)
	dst = strconv.AppendInt(dst, int64(c.rev), 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, c.orders, 10)
	dst = append(dst, `,"atrasados":`...)
	dst = strconv.AppendInt(dst, c.late, 10)
	dst = append(dst, `,"valor_total":`...)
	dst = c.value.AppendJSON(dst)
	dst = append(dst, `,"produtos":[`...)
	for i, p := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendProductJSON(dst, p)
	}
	dst = append(dst, `],"fechadas_ate":`...)
	if closed == math.MaxInt64 {
		dst = append(dst, `null`...) // the input ended: every window is final
	} else {
		dst = append(dst, '"')
		dst = append(dst, window.Label(closed)...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"emitido_em":"`...)
	dst = now.In(order.SaoPaulo).AppendFormat(dst, time.RFC3339)
	return append(dst, `"}`...)
}

// stateWinDoc is a window in a state record: produtos are
// [product index, units, orders, centavos].
type stateWinDoc struct {
	Inicio    int64      `json:"inicio"`
	Pedidos   int64      `json:"pedidos"`
	Atrasados int64      `json:"atrasados"`
	Centavos  int64      `json:"centavos"`
	Produtos  [][4]int64 `json:"produtos"`
}

// appendStateWindows writes the window fields of a state record.
func appendStateWindows(dst []byte, s *partitionState) []byte {
	dst = append(dst, `,"janela":`...)
	dst = order.AppendString(dst, s.WindowSpec)
	if s.MaxEvent != noTime {
		dst = append(dst, `,"evento_max":`...)
		dst = strconv.AppendInt(dst, s.MaxEvent, 10)
	}
	if s.Closed != noTime {
		dst = append(dst, `,"fechadas_ate":`...)
		dst = strconv.AppendInt(dst, s.Closed, 10)
	}
	dst = append(dst, `,"janelas":[`...)
	for i := range s.Windows {
		w := &s.Windows[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if w.enc != nil {
			dst = append(dst, w.enc...)
		} else {
			dst = appendStateWindow(dst, w)
		}
	}
	dst = append(dst, `],"emitidas":[`...)
	for i, m := range s.Marks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, m.Start, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(m.Rev), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, m.Orders, 10)
		dst = append(dst, ']')
	}
	if s.DedupeFrom >= 0 {
		dst = append(dst, `],"dedupe_desde":`...)
		dst = strconv.AppendInt(dst, s.DedupeFrom, 10)
		dst = append(dst, `,"duplicados":`...)
		dst = strconv.AppendInt(dst, s.Duplicates, 10)
		dst = append(dst, `,"antigos":[`...)
	} else {
		dst = append(dst, `],"antigos":[`...)
	}
	for i, off := range s.TooOld {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, off, 10)
	}
	return append(dst, ']')
}

// appendStateWindow writes one window of a state record.
func appendStateWindow(dst []byte, w *stateWindow) []byte {
	dst = append(dst, `{"inicio":`...)
	dst = strconv.AppendInt(dst, w.Start, 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, w.Orders, 10)
	dst = append(dst, `,"atrasados":`...)
	dst = strconv.AppendInt(dst, w.Late, 10)
	dst = append(dst, `,"centavos":`...)
	dst = strconv.AppendInt(dst, int64(w.Value), 10)
	dst = append(dst, `,"produtos":[`...)
	for j, p := range w.Prods {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(p.Idx), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, p.Units, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, p.Orders, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(p.Value), 10)
		dst = append(dst, ']')
	}
	dst = append(dst, "]}"...)
	return dst
}

// parseStateWindows reads the window fields of a state record into s.
func parseStateWindows(doc *stateDoc, s *partitionState) error {
	s.MaxEvent, s.Closed, s.DedupeFrom = noTime, noTime, -1
	s.WindowSpec = doc.Janela
	if doc.Janela == "" {
		if doc.EventoMax != nil || doc.FechadasAte != nil || len(doc.Janelas) > 0 || len(doc.Emitidas) > 0 || len(doc.Antigos) > 0 {
			return errors.New("window fields without janela")
		}
		return nil
	}
	if doc.EventoMax != nil {
		s.MaxEvent = *doc.EventoMax
	}
	if doc.FechadasAte != nil {
		s.Closed = *doc.FechadasAte
	}
	for i, w := range doc.Janelas {
		if w.Pedidos < 0 || w.Atrasados < 0 || w.Atrasados > w.Pedidos || w.Centavos < 0 {
			return fmt.Errorf("janelas[%d]: inconsistent numbers (pedidos %d, atrasados %d, centavos %d)", i, w.Pedidos, w.Atrasados, w.Centavos)
		}
		sw := stateWindow{Start: w.Inicio, Orders: w.Pedidos, Late: w.Atrasados, Value: order.Cents(w.Centavos)}
		for j, p := range w.Produtos {
			if p[0] < 0 || p[0] >= int64(len(s.Products)) || p[1] < 0 || p[2] < 0 || p[2] > w.Pedidos || p[3] < 0 {
				return fmt.Errorf("janelas[%d].produtos[%d]: %v does not fit the partition's %d products", i, j, p, len(s.Products))
			}
			sw.Prods = append(sw.Prods, stateWinProd{Idx: int32(p[0]), Units: p[1], Orders: p[2], Value: order.Cents(p[3])})
		}
		s.Windows = append(s.Windows, sw)
	}
	for i, m := range doc.Emitidas {
		if m[1] < 1 || m[1] > math.MaxInt32 || m[2] < 0 {
			return fmt.Errorf("emitidas[%d]: %v is not [start, revision >= 1, orders]", i, m)
		}
		s.Marks = append(s.Marks, stateMark{Start: m[0], Rev: int32(m[1]), Orders: m[2]})
	}
	s.TooOld = doc.Antigos
	if doc.DedupeDesde != nil {
		if *doc.DedupeDesde < 0 || *doc.DedupeDesde > s.Next || doc.Duplicados < 0 {
			return fmt.Errorf("dedupe_desde %d, duplicados %d: inconsistent with proximo_offset %d", *doc.DedupeDesde, doc.Duplicados, s.Next)
		}
		s.DedupeFrom, s.Duplicates = *doc.DedupeDesde, doc.Duplicados
	}
	return nil
}

// String names the windows a state was counted with: size/slide.
func (c windowConf) String() string {
	return c.spec.Size.String() + "/" + c.spec.Slide.String()
}

// windowConfFrom reads the window fields; nil when window is empty.
func windowConfFrom(conf *service.ParsedConfig) (*windowConf, error) {
	str := func(f string) (string, error) { return conf.FieldString(f) }
	size, err := str(fieldWindow)
	if err != nil {
		return nil, err
	}
	dedupe, err := conf.FieldBool(fieldDedupe)
	if err != nil {
		return nil, err
	}
	durs := map[string]time.Duration{}
	for _, f := range []string{fieldWindow, fieldSlide, fieldLateness, fieldIdle, fieldRetention, fieldMaxFuture} {
		v, err := str(f)
		if err != nil {
			return nil, err
		}
		if v == "" {
			continue
		}
		d, err := parseDays(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f, err)
		}
		if d < 0 {
			return nil, fmt.Errorf("field %s: %q is negative", f, v)
		}
		durs[f] = d
	}
	if size == "" {
		if v, _ := str(fieldSlide); v != "" {
			return nil, fmt.Errorf("field %s is set to %q but field %s is empty: set the window size too", fieldSlide, v, fieldWindow)
		}
		if dedupe {
			return nil, fmt.Errorf("field %s needs field %s: the watermark of the windows bounds how long an id_ordem is remembered", fieldDedupe, fieldWindow)
		}
		return nil, nil
	}
	spec, err := window.Parse(durs[fieldWindow], durs[fieldSlide])
	if err != nil {
		return nil, err
	}
	maxSlots, err := conf.FieldInt(fieldMaxSlots)
	if err != nil {
		return nil, err
	}
	if maxSlots < 1 || maxSlots > maxWindowSlots {
		return nil, fmt.Errorf("field %s: %d is not from 1 to %d (a partition's windows must fit in one record of the state topic)", fieldMaxSlots, maxSlots, maxWindowSlots)
	}
	c := &windowConf{spec: spec, idle: durs[fieldIdle], dedupe: dedupe, maxSlots: maxSlots}
	for _, f := range []string{fieldLateness, fieldRetention, fieldMaxFuture} {
		if d := durs[f]; d%time.Second != 0 {
			return nil, fmt.Errorf("field %s: %v is not a whole number of seconds (event times are to the second)", f, d)
		}
	}
	c.lateness = int64(durs[fieldLateness] / time.Second)
	c.retention = int64(durs[fieldRetention] / time.Second)
	c.maxFuture = int64(durs[fieldMaxFuture] / time.Second)
	if c.retention < c.lateness {
		return nil, fmt.Errorf("field %s: %v is shorter than field %s (%v): windows would be evicted before late orders may still arrive", fieldRetention, durs[fieldRetention], fieldLateness, durs[fieldLateness])
	}
	return c, nil
}

// parseDays is time.ParseDuration that also takes whole days: "7d".
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 32)
		if err != nil || days < 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a duration (such as 90s, 10m, 1h30m or 7d)", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (such as 90s, 10m, 1h30m or 7d)", s)
	}
	return d, nil
}

// checkWindowSpec refuses a stored state counted with other windows than
// this buffer's: read on, its windows would be wrong without a word.
func (b *salesAggregate) checkWindowSpec(s *partitionState) error {
	want := ""
	if b.win != nil {
		want = b.win.conf.String()
	}
	if s.WindowSpec == want {
		return nil
	}
	reset := fmt.Sprintf("set the same windows again, or use another state_topic, or start afresh with: vendas-connect reset-state --brokers <brokers> --state-topic %s", b.stateTopic)
	switch {
	case want == "":
		return fmt.Errorf("the state of topic %s partition %d in %s holds windows of %s, but this sales_aggregate has no field %s: counted on, they would be dropped; %s",
			s.Topic, s.Partition, b.stateTopic, s.WindowSpec, fieldWindow, reset)
	case s.WindowSpec == "" && s.Orders == 0 && s.Rejected == 0:
		return nil // nothing counted yet
	case s.WindowSpec == "":
		return fmt.Errorf("the state of topic %s partition %d in %s was counted without windows up to offset %d: windows of %s would miss the orders before it; %s",
			s.Topic, s.Partition, b.stateTopic, s.Next, want, reset)
	}
	return fmt.Errorf("the state of topic %s partition %d in %s holds windows of %s (size/slide), but field %s asks for %s; %s",
		s.Topic, s.Partition, b.stateTopic, s.WindowSpec, fieldWindow, want, reset)
}

// emitWithWindowsLocked returns the windows due and, when something changed
// or at the end, a snapshot, in one batch; ok is false when there is
// nothing. It unlocks mu.
func (b *salesAggregate) emitWithWindowsLocked(final bool) (service.MessageBatch, service.AckFunc, bool) {
	now := b.now()
	wins, undo := b.emitWindowsLocked(now, final)
	if !final && !b.changed && len(wins) == 0 {
		b.mu.Unlock()
		return nil, nil, false
	}
	var snapAck service.AckFunc
	batch := wins
	if final || b.changed {
		mode := b.mode
		if final {
			mode = ModeComplete
		}
		var snap service.MessageBatch
		snap, snapAck, _ = b.emitSnapshotLocked(mode, final)
		batch = append(batch, snap...)
	} else {
		b.mu.Unlock()
	}
	if len(wins) > 0 && b.stateTopic != "" {
		wake(b.commitWake)
	}
	return batch, func(ctx context.Context, err error) error {
		if err != nil && undo != nil {
			b.mu.Lock()
			undo()
			b.mu.Unlock()
			b.log.Warnf("%d window messages were not delivered, emitting them again: %v", len(wins), err)
		}
		if snapAck != nil {
			return snapAck(ctx, err)
		}
		return nil
	}, true
}
