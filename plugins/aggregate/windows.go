package aggregate

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
	"github.com/vendas-connect/vendas-connect/plugins/window"
)

// MetaWindow is on window messages: "final" for a window's first emission,
// "revisao" for an amendment.
const MetaWindow = "sales_window"

// maxWindowSlots bounds max_window_products. A product row of a window takes
// up to about 40 bytes of a state record, and a window itself about 100 more
// with its emission mark, counted as windowSlots rows: 150 000 rows stay
// under 6 MiB, leaving the rest of the state topic's 16 MiB records to the
// products (up to about 9 MiB, max_products).
const (
	maxWindowSlots = 150_000
	windowSlots    = 3
)

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
	// emitted is, per window start, its last emission; delivered, its last
	// emission the output acknowledged: what the state topic records.
	emitted, delivered map[int64]emittedWindow
	starts             []int64 // scratch for window.Spec.Windows
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
	return &windowShared{conf: c, closed: noTime, emitted: map[int64]emittedWindow{}, delivered: map[int64]emittedWindow{}, seen: map[TopicPartition]seenEvent{}}
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
	// After a restore with dedupe: the offset from which ids are
	// remembered again (-1: none), and the running greatest event time of
	// the records read again from there, as it was when each was counted.
	dedupeFloor, replayMax int64
	restoredMax            int64
	// slots is the number of product slots over the windows (the sum of
	// their len(prods)): what memory and the state record grow with.
	slots int
}

// duplicate reports whether the order with id hash h, at offset off and
// event time t, was counted already (counting it in duplicados); if not,
// its id is remembered.
func (w *partWindows) duplicate(h uint64, off, t int64) bool {
	if w.dedupe.seen(h, w.sh.closed, w.sh.conf.lateness) {
		w.dedupe.dups++
		return true
	}
	w.rememberID(h, off, t, w.maxEvent)
	return false
}

// rememberID remembers id hash h of the order at offset off and event time
// t until the watermark passes the later of t and its partition's
// watermark then (from maxBefore, the greatest event time counted before it).
func (w *partWindows) rememberID(h uint64, off, t, maxBefore int64) {
	expiry := t
	if maxBefore != noTime {
		expiry = max(expiry, maxBefore-w.sh.conf.lateness)
	}
	w.dedupe.remember(h, off, expiry, maxBefore)
}

// rememberAgain takes in, after a restore, the id of the order at offset off
// and event time t, counted before the crash: remembered until the same
// expiry as when it was counted, from the greatest event time before it.
// A copy (its id remembered then) is skipped, as it was then.
func (w *partWindows) rememberAgain(h uint64, off, t int64) {
	if off < w.dedupeFloor || w.dedupe.seen(h, w.sh.closed, w.sh.conf.lateness) {
		return
	}
	w.rememberID(h, off, t, w.replayMax)
	w.replayMax = max(w.replayMax, t)
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
	w := &partWindows{sh: sh, maxEvent: noTime, wins: map[int64]*winTotals{}, tooOld: map[int64]struct{}{}, cacheStart: 1, cacheEnd: 0,
		dedupeFloor: -1, replayMax: noTime, restoredMax: noTime}
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
	if sh.closed == noTime || t >= w.cacheStart && t < w.cacheEnd {
		return nil // the window of the previous order: kept
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
	if w.slots+(need+windowSlots)*perOrder <= sh.conf.maxSlots {
		return nil // the hot path: far from the limit
	}
	growth := 0
	sh.starts = sh.conf.spec.Windows(sh.starts[:0], t)
	for _, s := range sh.starts {
		if sh.evicted(s) {
			continue
		}
		have := -windowSlots // a new window costs its own rows too
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
			w.slots += windowSlots
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
			w.slots -= len(wt.prods) + windowSlots
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

// marks copies the delivered windows for a state record.
func (sh *windowShared) marks() []stateMark {
	out := make([]stateMark, 0, len(sh.delivered))
	for s, e := range sh.delivered {
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
	for _, sm := range marks {
		if sh.evicted(sm.Start) {
			continue
		}
		m := emittedWindow{rev: sm.Rev, orders: sm.Orders}
		for _, known := range [...]map[int64]emittedWindow{sh.emitted, sh.delivered} {
			if e, ok := known[sm.Start]; !ok || m.rev > e.rev || (m.rev == e.rev && m.orders > e.orders) {
				known[sm.Start] = m
			}
		}
	}
}

// restoreWindows loads a partition's windows from its state record.
func (w *partWindows) restore(s *partitionState) {
	w.maxEvent = s.MaxEvent
	for _, sw := range s.Windows {
		wt := &winTotals{orders: sw.Orders, late: sw.Late, value: sw.Value}
		w.slots += windowSlots
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
