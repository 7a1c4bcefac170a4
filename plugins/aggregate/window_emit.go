package aggregate

import (
	"context"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
	"github.com/vendas-connect/vendas-connect/plugins/window"
)

// combinedWindow is a window over every partition, as emitted.
type combinedWindow struct {
	start, end   int64
	orders, late int64
	value        order.Cents
	products     map[string]*ProductTotals
	rev          int32
	// overflow names the sums over partitions that exceed int64, shown at
	// its largest value (estouro), as in snapshots.
	overflow overflow
}

// rows are its products by value, descending.
func (c *combinedWindow) rows() []*ProductTotals {
	rows := make([]*ProductTotals, 0, len(c.products))
	for _, p := range c.products {
		rows = append(rows, p)
	}
	slices.SortFunc(rows, byValueDesc)
	return rows
}

func (c *combinedWindow) add(name string, units, orders int64, value order.Cents) {
	p := c.products[name]
	if p == nil {
		p = &ProductTotals{Name: name}
		c.products[name] = p
	}
	c.overflow.addTotals(p, units, orders, value)
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

// combine adds up the windows starting at starts over every partition, in
// one pass over each partition's windows (many windows can be due at once:
// at the end of a file, or after a backlog).
func combine(srcs []windowSource, starts []int64, end func(int64) int64) map[int64]*combinedWindow {
	out := make(map[int64]*combinedWindow, len(starts))
	for _, s := range starts {
		out[s] = &combinedWindow{start: s, end: end(s), products: map[string]*ProductTotals{}}
	}
	for i := range srcs {
		src := &srcs[i]
		if src.own != nil {
			for s, c := range out {
				wt := src.own.wins[s]
				if wt == nil {
					continue
				}
				count(&c.overflow, &c.orders, wt.orders, "pedidos")
				count(&c.overflow, &c.late, wt.late, "atrasados")
				count(&c.overflow, &c.value, wt.value, "valor_total")
				for k, p := range wt.prods {
					if p.units != 0 || p.orders != 0 {
						c.add(src.names(int32(k)), p.units, p.orders, p.value)
					}
				}
			}
			continue
		}
		for j := range src.state.Windows {
			sw := &src.state.Windows[j]
			c := out[sw.Start]
			if c == nil {
				continue
			}
			count(&c.overflow, &c.orders, sw.Orders, "pedidos")
			count(&c.overflow, &c.late, sw.Late, "atrasados")
			count(&c.overflow, &c.value, sw.Value, "valor_total")
			for _, p := range sw.Prods {
				if int(p.Idx) < len(src.state.Products) {
					c.add(src.state.Products[p.Idx].Name, p.Units, p.Orders, p.Value)
				}
			}
		}
	}
	return out
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
// closed window that took in orders since it was emitted, with the function
// to call, with mu, once their delivery succeeded or failed.
func (b *salesAggregate) emitWindowsLocked(now time.Time, final bool) (service.MessageBatch, func(error)) {
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
	combined := combine(srcs, due, sh.conf.spec.End)
	sent := make(map[int64]emittedWindow, len(due))
	batch := make(service.MessageBatch, 0, len(due))
	for _, start := range due {
		c := combined[start]
		c.rev = sh.emitted[start].rev + 1
		sh.emitted[start] = emittedWindow{rev: c.rev, orders: c.orders}
		sent[start] = sh.emitted[start]
		if c.overflow.len() > 0 {
			b.warnOverflow("Window "+window.Label(start), &c.overflow)
		}
		msg := service.NewMessage(appendWindowJSON(nil, c, upTo, now))
		kind := "final"
		if c.rev > 1 {
			kind = "revisao"
		}
		msg.MetaSetMut(MetaWindow, kind)
		batch = append(batch, msg)
	}
	// Delivered or not, the lines are out of the buffer's hands: what was
	// emitted goes to the state topic only once the output took it, so that
	// a crash before that emits the windows again (at least once), and a
	// failure puts back what was last delivered, whatever the order in
	// which the acknowledgements of several emissions come.
	settle := func(err error) {
		for start, e := range sent {
			if err == nil {
				if d, ok := sh.delivered[start]; !ok || e.rev > d.rev || e.rev == d.rev && e.orders > d.orders {
					sh.delivered[start] = e
				}
				continue
			}
			if d, ok := sh.delivered[start]; ok {
				sh.emitted[start] = d
			} else {
				delete(sh.emitted, start)
			}
		}
		if err == nil {
			for _, lp := range b.parts {
				if lp.live {
					lp.dirty = true // the marks go with the next write
				}
			}
		}
	}
	return batch, settle
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
	for s := range sh.delivered {
		if sh.evicted(s) {
			delete(sh.delivered, s)
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
	c := combine(srcs, []int64{start}, b.win.conf.spec.End)[start]
	rows := c.rows()
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
	dst = append(dst, ']')
	// Sums over partitions beyond int64, as in the window's line.
	dst = c.overflow.appendJSON(dst)
	return append(dst, '}')
}

// appendWindowJSON writes a window message (CONTRACT.md section 10).
func appendWindowJSON(dst []byte, c *combinedWindow, closed int64, now time.Time) []byte {
	rows := c.rows()
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
	dst = append(dst, ']')
	dst = c.overflow.appendJSON(dst)
	dst = append(dst, `,"fechadas_ate":`...)
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

// emitWithWindowsLocked returns the windows due and, when something changed
// or at the end, a snapshot, in one batch; ok is false when there is
// nothing. It unlocks mu.
func (b *salesAggregate) emitWithWindowsLocked(final bool) (service.MessageBatch, service.AckFunc, bool) {
	now := b.now()
	wins, settle := b.emitWindowsLocked(now, final)
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
	return batch, func(ctx context.Context, err error) error {
		if settle != nil {
			b.mu.Lock()
			settle(err)
			b.mu.Unlock()
			if err != nil {
				b.log.Warnf("%d window messages were not delivered, emitting them again: %v", len(wins), err)
			} else if b.stateTopic != "" {
				wake(b.commitWake)
			}
		}
		if snapAck != nil {
			return snapAck(ctx, err)
		}
		return nil
	}, true
}
