package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
	"github.com/vendas-connect/vendas-connect/plugins/order"
	"github.com/vendas-connect/vendas-connect/plugins/window"
)

// windowedStream makes n orders over a simulated day from start, in
// partitions: each partition's event times advance with its offsets, a
// share are stamped up to 30 minutes early (disorder) and a share 1 to 6
// hours early (late, beyond any watermark of 10m).
func windowedStream(rng *rand.Rand, n, partitions int, start time.Time) ([][][]byte, [][]*order.Order) {
	catalog := smallCatalog(rng, 12)
	data := make([][][]byte, partitions)
	orders := make([][]*order.Order, partitions)
	for i := range n {
		p := rng.IntN(partitions)
		t := start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
		switch r := rng.Float64(); {
		case r < 0.03:
			t = t.Add(-time.Hour - time.Duration(rng.Int64N(int64(5*time.Hour))))
		case r < 0.25:
			t = t.Add(-time.Duration(rng.Int64N(int64(30 * time.Minute))))
		}
		o := randomOrder(rng, catalog, i)
		o.SoldAt = order.LocalTimeOf(t)
		orders[p] = append(orders[p], o)
		data[p] = append(data[p], o.AppendJSON(nil))
	}
	return data, orders
}

// naiveWindows sums orders per window the obvious way.
func naiveWindows(t *testing.T, spec window.Spec, parts [][]*order.Order) map[int64]*naive {
	out := map[int64]*naive{}
	for _, os := range parts {
		for _, o := range os {
			for _, s := range spec.Windows(nil, o.SoldAt.Time().Unix()) {
				if out[s] == nil {
					out[s] = newNaive()
				}
				out[s].add(o)
			}
		}
	}
	return out
}

// windowLog collects window messages and checks the order of revisions.
type windowLog struct {
	t    *testing.T
	last map[int64]*WindowTotals
}

func (l *windowLog) take(batch service.MessageBatch) {
	l.t.Helper()
	for _, m := range batch {
		if _, ok := m.MetaGet(MetaWindow); !ok {
			continue
		}
		data, err := m.AsBytes()
		require.NoError(l.t, err)
		w, err := ParseWindow(data)
		require.NoError(l.t, err, string(data))
		start := w.Start.Unix()
		prev := l.last[start]
		if prev == nil {
			require.GreaterOrEqual(l.t, w.Revision, 1)
		} else {
			require.GreaterOrEqual(l.t, w.Revision, prev.Revision, "revisions never go back: %s", data)
			require.GreaterOrEqual(l.t, w.Orders, prev.Orders, "an amendment only adds orders: %s", data)
		}
		if w.Revision > 1 {
			require.Positive(l.t, w.Late, "an amendment took in late orders: %s", data)
		}
		if !w.ClosedUpTo.IsZero() {
			require.False(l.t, w.End.After(w.ClosedUpTo), "emitted only once closed: %s", data)
		}
		l.last[start] = w
	}
}

// tick emits what a tick of the interval would, acknowledging it.
func tick(t *testing.T, b *salesAggregate, log *windowLog) {
	b.mu.Lock()
	batch, ack, ok := b.emitWithWindowsLocked(false)
	if !ok {
		return
	}
	log.take(batch)
	require.NoError(t, ack(context.Background(), nil))
}

func assertWindows(t *testing.T, spec window.Spec, got map[int64]*WindowTotals, parts [][]*order.Order) {
	t.Helper()
	assertWindowsUpTo(t, spec, got, parts, math.MaxInt64)
}

// assertWindowsUpTo is assertWindows for the windows ending by closed: a
// Kafka input that stops leaves the others open, unprinted.
func assertWindowsUpTo(t *testing.T, spec window.Spec, got map[int64]*WindowTotals, parts [][]*order.Order, closed int64) {
	t.Helper()
	want := naiveWindows(t, spec, parts)
	for s := range want {
		if spec.End(s) > closed {
			delete(want, s)
		}
	}
	require.NotEmpty(t, want)
	require.Len(t, got, len(want), "every window closed with orders was emitted, none open")
	for s, n := range want {
		w := got[s]
		require.NotNil(t, w, "window %s", window.Label(s))
		assert.Equal(t, n.orders, w.Orders, "window %s orders", window.Label(s))
		assert.Equal(t, n.value, w.Value, "window %s value", window.Label(s))
		assert.Equal(t, n.products, productsMap(w.Products), "window %s products", window.Label(s))
	}
}

// TestWindowsEqualNaiveSums: random orders with disorder and lateness, in
// random batches interleaving the partitions, with the watermark ticking
// between them: the last revision of every window equals the naive sum, and
// late orders came as amendments.
func TestWindowsEqualNaiveSums(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			size := []string{"1h", "15m", "24h"}[seed%3]
			slide := ""
			if seed%4 == 3 {
				slide = "30m"
				size = "1h"
			}
			b := newTestBuffer(t, "interval: 0s\nwindow: "+size+"\nslide: \""+slide+"\"\nallowed_lateness: 10m\nidle_timeout: 0s\n")
			parts := 1 + rng.IntN(4)
			data, orders := windowedStream(rng, 2000+rng.IntN(2000), parts, time.Date(2026, 11, 24, 0, 0, 0, 0, order.SaoPaulo))
			log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
			next := make([]int, parts)
			ctx := context.Background()
			for {
				live := []int{}
				for p := range parts {
					if next[p] < len(data[p]) {
						live = append(live, p)
					}
				}
				if len(live) == 0 {
					break
				}
				p := live[rng.IntN(len(live))]
				n := min(1+rng.IntN(200), len(data[p])-next[p])
				var batch service.MessageBatch
				for off := next[p]; off < next[p]+n; off++ {
					batch = append(batch, kafkaMsg(data[p][off], testTopic, int32(p), int64(off)))
				}
				next[p] += n
				require.NoError(t, b.WriteBatch(ctx, batch, func(context.Context, error) error { return nil }))
				if rng.IntN(3) == 0 {
					tick(t, b, log)
				}
			}
			tick(t, b, log)
			amended := 0
			for _, w := range log.last {
				if w.Revision > 1 {
					amended++
				}
			}
			b.EndOfInput()
			drain(t, b, log.take)
			assertWindows(t, b.win.conf.spec, log.last, orders)
			assert.Positive(t, amended, "late orders amended windows already final before the end")
		})
	}
}

// TestWindowsAcrossRestarts counts a stream with windows and the state on a
// Kafka topic, crashing the member at random points (nothing written after
// the crash), each next member restoring from the state topic: the final
// windows still equal the naive sums, and a window is not emitted again as
// final after a restart.
func TestWindowsAcrossRestarts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	data, orders := windowedStream(rng, 3000, 1, time.Date(2026, 11, 24, 0, 0, 0, 0, order.SaoPaulo))
	last, _, closed := countAcrossRestarts(t, rng, "", data[0], nil)
	assertWindowsUpTo(t, b0spec(t), last, orders, closed)
}

// TestDedupeAcrossRestarts: with dedupe, copies of orders sent again a few
// records later (within the watermark's horizon) are counted once, in the
// totals and in the windows, across crashes that fall between a copy and its
// original; duplicados counts them.
func TestDedupeAcrossRestarts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	data, orders := windowedStream(rng, 3000, 1, time.Date(2026, 11, 24, 0, 0, 0, 0, order.SaoPaulo))
	stream, copyAt := withCopies(rng, data[0])
	copies := len(copyAt)
	// Crash right before three copies, spread out: each original is in the
	// state, its copy is read by the next member.
	stops := []int{copyAt[copies/4], copyAt[copies/2], copyAt[3*copies/4]}
	last, snap, closed := countAcrossRestarts(t, rng, "dedupe: true\n", stream, stops)
	assertWindowsUpTo(t, b0spec(t), last, orders, closed)
	want := newNaive()
	for _, o := range orders[0] {
		want.add(o)
	}
	assert.Equal(t, want.orders, snap.Orders, "each id_ordem once")
	assert.Equal(t, want.value, snap.Value)
	assert.Equal(t, int64(copies), snap.dups, "duplicados")
	t.Logf("%d records, %d copies", len(stream), copies)
}

// withCopies sends 5% of the records again 1 to 8 records later; it returns
// the stream and where each copy is in it.
func withCopies(rng *rand.Rand, data [][]byte) ([][]byte, []int) {
	var out [][]byte
	var at []int
	pending := map[int][][]byte{}
	flush := func(i int) {
		for _, d := range pending[i] {
			at = append(at, len(out))
			out = append(out, d)
		}
		delete(pending, i)
	}
	for i, d := range data {
		out = append(out, d)
		flush(i)
		if rng.IntN(20) == 0 {
			k := i + 1 + rng.IntN(8)
			pending[k] = append(pending[k], d)
		}
	}
	for i := len(data); len(pending) > 0; i++ {
		flush(i)
	}
	return out, at
}

type dedupeSnap struct {
	Orders int64
	Value  order.Cents
	dups   int64
}

// countAcrossRestarts counts data (one partition) with 1h windows and the
// state on a topic of the embedded (or real) broker, in four members, the
// first three crashing at random points (or before stops); it returns the
// latest revision of each window, the last snapshot's counts and how far
// the last member closed windows.
func countAcrossRestarts(t *testing.T, rng *rand.Rand, extra string, data [][]byte, stops []int) (map[int64]*WindowTotals, dedupeSnap, int64) {
	t.Helper()
	t.Cleanup(lifecycle.SetExit(func(code int) { t.Errorf("a member stopped the process (status %d)", code) }))
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 1)
	kafkatest.Produce(t, brokers, topic, nil, data)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
	require.NoError(t, err)

	member := func() (*salesAggregate, kafka.Start) { return windowMember(t, ctx, brokers, topic, ids, extra) }
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	finals := map[int64]int{}
	var snap dedupeSnap
	var closed int64
	take := func(batch service.MessageBatch) {
		log.take(batch)
		for _, m := range batch {
			raw, _ := m.AsBytes()
			if k, _ := m.MetaGet(MetaWindow); k == "final" {
				w, err := ParseWindow(raw)
				require.NoError(t, err)
				finals[w.Start.Unix()]++
			}
			if v, _ := m.MetaGet(MetaSnapshot); v == "true" {
				var doc struct {
					Duplicados int64 `json:"duplicados"`
				}
				require.NoError(t, json.Unmarshal(raw, &doc))
				s, err := ParseSnapshot(raw)
				require.NoError(t, err)
				snap = dedupeSnap{Orders: s.Orders, Value: s.Value, dups: doc.Duplicados}
			}
		}
	}
	for round := range 4 {
		b, start := member()
		stop := len(data)
		switch {
		case round < 3 && stops != nil:
			stop = stops[round]
		case round < 3:
			stop = min(int(start.Offset)+500+rng.IntN(800), len(data))
		}
		for off := int(start.Offset); off < stop; {
			n := min(1+rng.IntN(150), stop-off)
			acks := newAckRecorder()
			var batch service.MessageBatch
			for o := off; o < off+n; o++ {
				batch = append(batch, assignedMsg(data[o], topic, 0, int64(o), start.Assignment))
			}
			require.NoError(t, b.WriteBatch(ctx, batch, acks.fn(nil)))
			acks.wait(t, 1)
			off += n
			b.mu.Lock()
			out, ack, ok := b.emitWithWindowsLocked(false)
			if ok {
				take(out)
				require.NoError(t, ack(ctx, nil))
			}
		}
		if round < 3 {
			// Let the marks of the last emission reach the broker, then
			// crash: nothing more is written.
			settleAndCrash(t, ctx, b)
			continue
		}
		b.EndOfInput()
		drain(t, b, take)
		b.mu.Lock()
		closed = b.win.closed
		b.mu.Unlock()
	}
	for s, n := range finals {
		assert.Equal(t, 1, n, "window %s emitted as final once across the restarts", window.Label(s))
	}
	return log.last, snap, closed
}

func b0spec(t *testing.T) window.Spec {
	spec, err := window.Parse(time.Hour, 0)
	require.NoError(t, err)
	return spec
}

// TestWindowDSTDays: day windows are São Paulo days, 23 hours when the
// clocks went forward (2018-11-04) and 25 when they went back (2019-02-16,
// whose 23:00 hour came twice).
func TestWindowDSTDays(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 24h\n")
	at := func(s string) order.LocalTime {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return order.LocalTimeOf(tm)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	catalog := smallCatalog(rng, 3)
	var batch service.MessageBatch
	for i, s := range []string{"2018-11-04T01:30:00-02:00", "2018-11-04T23:59:59-02:00", "2019-02-16T00:00:00-02:00", "2019-02-16T23:30:00-02:00", "2019-02-16T23:30:00-03:00"} {
		o := randomOrder(rng, catalog, i)
		o.SoldAt = at(s)
		batch = append(batch, service.NewMessage(o.AppendJSON(nil)))
	}
	require.NoError(t, b.WriteBatch(context.Background(), batch, func(context.Context, error) error { return nil }))
	b.EndOfInput()
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	drain(t, b, log.take)
	got := map[string]string{}
	orders := map[string]int64{}
	for _, w := range log.last {
		start := w.Start.Format(time.RFC3339)
		got[start] = w.End.Format(time.RFC3339) + " " + w.End.Sub(w.Start).String()
		orders[start] = w.Orders
	}
	assert.Equal(t, map[string]string{
		"2018-11-04T01:00:00-02:00": "2018-11-05T00:00:00-02:00 23h0m0s",
		"2019-02-16T00:00:00-02:00": "2019-02-17T00:00:00-03:00 25h0m0s",
	}, got)
	assert.Equal(t, map[string]int64{"2018-11-04T01:00:00-02:00": 2, "2019-02-16T00:00:00-02:00": 3}, orders)
}

// TestTooOldIsRejected: an order whose window was evicted (retention after
// it closed) goes to the rejected records with a reason, never into the
// totals of a window already gone.
func TestTooOldIsRejected(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\nallowed_lateness: 0s\nretention: 1h\nidle_timeout: 0s\n")
	rng := rand.New(rand.NewPCG(2, 2))
	catalog := smallCatalog(rng, 3)
	mk := func(i int, s string) []byte {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		o := randomOrder(rng, catalog, i)
		o.SoldAt = order.LocalTimeOf(tm)
		return o.AppendJSON(nil)
	}
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{kafkaMsg(mk(0, "2026-11-24T10:00:00-03:00"), testTopic, 0, 0), kafkaMsg(mk(1, "2026-11-24T14:00:00-03:00"), testTopic, 0, 1)}, nop))
	tick(t, b, log)
	require.Len(t, log.last, 1, "10:00 is final (and then evicted); the empty hours are not windows")
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{kafkaMsg(mk(2, "2026-11-24T10:30:00-03:00"), testTopic, 0, 2), kafkaMsg(mk(3, "2026-11-24T13:30:00-03:00"), testTopic, 0, 3)}, nop))
	batch, ack := readReady(t, b)
	require.Len(t, batch, 1, "the 10:30 order is rejected")
	reason, _ := batch[0].MetaGet(MetaRejectedReason)
	assert.Contains(t, reason, "data_hora_venda: the sale at 2026-11-24T10:30:00-03:00 is older than the windows kept")
	assert.Contains(t, reason, "retention 1h0m0s")
	require.NoError(t, ack(ctx, nil))
	tick(t, b, log)
	w := log.last[time.Date(2026, 11, 24, 13, 0, 0, 0, order.SaoPaulo).Unix()]
	require.NotNil(t, w, "13:00 closed at 14:00 and took the 13:30 order")
	assert.Equal(t, int64(1), w.Orders)
	assert.Equal(t, 1, log.last[time.Date(2026, 11, 24, 10, 0, 0, 0, order.SaoPaulo).Unix()].Revision, "10:00 was not amended")
}

// TestUnreadPartitionHoldsTheWatermark: a partition assigned with nothing
// counted yet holds the watermark back for idle_timeout, so that a consumer
// catching up does not close windows before it read every partition; after
// that it counts as idle.
func TestUnreadPartitionHoldsTheWatermark(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\nallowed_lateness: 0s\nidle_timeout: 10s\n")
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	ctx := context.Background()
	starts, err := b.Assign(ctx, testTopic, [16]byte{1}, []int32{0, 1})
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(6, 6))
	catalog := smallCatalog(rng, 3)
	var batch service.MessageBatch
	for i, h := range []uint8{10, 11, 12} {
		o := randomOrder(rng, catalog, i)
		o.SoldAt = order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: h}
		batch = append(batch, assignedMsg(o.AppendJSON(nil), testTopic, 0, int64(i), starts[0].Assignment))
	}
	require.NoError(t, b.WriteBatch(ctx, batch, func(context.Context, error) error { return nil }))
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	tick(t, b, log)
	assert.Empty(t, log.last, "partition 1, assigned 0s ago and not read yet, holds the windows back")
	now = now.Add(9 * time.Second)
	tick(t, b, log)
	assert.Empty(t, log.last, "still within idle_timeout")
	now = now.Add(2 * time.Second)
	tick(t, b, log)
	assert.Len(t, log.last, 2, "partition 1 is idle now: 10:00 and 11:00 close at partition 0's watermark, 12:00")
}

// TestFarFutureIsRejected: one order stamped years ahead would move the
// watermark there and make every later order too old; it is rejected with
// a reason instead, and the windows go on.
func TestFarFutureIsRejected(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\nallowed_lateness: 0s\nidle_timeout: 0s\n")
	b.now = func() time.Time { return time.Date(2026, 12, 2, 10, 0, 0, 0, order.SaoPaulo) }
	rng := rand.New(rand.NewPCG(8, 8))
	catalog := smallCatalog(rng, 3)
	mk := func(i int, lt order.LocalTime) []byte {
		o := randomOrder(rng, catalog, i)
		o.SoldAt = lt
		return o.AppendJSON(nil)
	}
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{
		kafkaMsg(mk(0, order.LocalTime{Year: 2026, Month: 12, Day: 1, Hour: 10}), testTopic, 0, 0),
		kafkaMsg(mk(1, order.LocalTime{Year: 2099, Month: 12, Day: 1, Hour: 10}), testTopic, 0, 1),
		kafkaMsg(mk(2, order.LocalTime{Year: 2026, Month: 12, Day: 3, Hour: 9}), testTopic, 0, 2),
		kafkaMsg(mk(3, order.LocalTime{Year: 2026, Month: 12, Day: 1, Hour: 11}), testTopic, 0, 3),
	}, nop))
	batch, ack := readReady(t, b)
	require.Len(t, batch, 1, "the order of 2099 is rejected; the one 23h ahead is not")
	reason, _ := batch[0].MetaGet(MetaRejectedReason)
	assert.Contains(t, reason, "data_hora_venda: the sale at 2099-12-01T10:00:00-03:00 is")
	assert.Contains(t, reason, "ahead of this consumer's clock (2026-12-02T10:00:00-03:00), more than field max_future allows (24h0m0s)")
	require.NoError(t, ack(ctx, nil))
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	tick(t, b, log)
	w := log.last[time.Date(2026, 12, 1, 10, 0, 0, 0, order.SaoPaulo).Unix()]
	require.NotNil(t, w, "01/12 10:00 closed at the watermark of 03/12 09:00")
	assert.Equal(t, int64(1), w.Orders)
	require.NotNil(t, log.last[time.Date(2026, 12, 1, 11, 0, 0, 0, order.SaoPaulo).Unix()], "and 11:00, counted after the rejected one")
}

// TestWindowProductLimit: made-up products over many windows cannot grow a
// partition's windows past max_window_products; the order that would is
// rejected with a reason, and evicted windows give their slots back.
func TestWindowProductLimit(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\nallowed_lateness: 0s\nidle_timeout: 10s\nretention: 1h\nmax_window_products: 26\n")
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, order.SaoPaulo)
	b.now = func() time.Time { return now }
	rng := rand.New(rand.NewPCG(9, 9))
	mk := func(i int, hour uint8, name string) []byte {
		o := &order.Order{ID: fmt.Sprintf("o-%d", i), Customer: validCPF(rng), SoldAt: order.LocalTime{Year: 2026, Month: 12, Day: 1, Hour: hour},
			Items: []order.Item{{Name: name, Quantity: 1, UnitPrice: 100}}}
		o.Total = o.ItemsTotal()
		return o.AppendJSON(nil)
	}
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	reasons := func() []string {
		out, ack := readReady(t, b)
		var rs []string
		for _, m := range out {
			r, _ := m.MetaGet(MetaRejectedReason)
			rs = append(rs, r)
		}
		if ack != nil {
			require.NoError(t, ack(ctx, nil))
		}
		return rs
	}
	var batch service.MessageBatch
	// Partition 0: window 10:00 gets products 0..9 (10 rows, 3 for the
	// window itself), window 11:00 product 9 (rows 0..9: 13 more): 26, the
	// limit.
	for i := range 10 {
		batch = append(batch, kafkaMsg(mk(i, 10, fmt.Sprintf("p%02d", i)), testTopic, 0, int64(i)))
	}
	batch = append(batch, kafkaMsg(mk(10, 11, "p09"), testTopic, 0, 10))
	// A new product in 11:00 would make it 27.
	batch = append(batch, kafkaMsg(mk(11, 11, "p10"), testTopic, 0, 11))
	require.NoError(t, b.WriteBatch(ctx, batch, nop))
	rs := reasons()
	require.Len(t, rs, 1)
	assert.Contains(t, rs[0], "produtos: the windows of this partition hold 26 product slots (2 windows)")
	assert.Contains(t, rs[0], "field max_window_products (26)")

	// Partition 1 reaches 13:00; partition 0 goes idle: the watermark is
	// 13:00, which evicts partition 0's windows (retention 1h after their end).
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	tick(t, b, log)
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{kafkaMsg(mk(12, 13, "q00"), testTopic, 1, 0)}, nop))
	now = now.Add(11 * time.Second)
	tick(t, b, log)
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{kafkaMsg(mk(13, 13, "p10"), testTopic, 0, 12)}, nop))
	assert.Empty(t, reasons(), "the slots of the evicted windows are free again")
}

// TestWindowsMoveWithTheirPartition: two members and a state topic; a
// partition moves from A to B mid-stream. Its windows go with it: the
// windows both members printed, the latest revision of each, equal the
// naive sums over both partitions.
func TestWindowsMoveWithTheirPartition(t *testing.T) {
	t.Cleanup(lifecycle.SetExit(func(code int) { t.Errorf("a member stopped the process (status %d)", code) }))
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 2)
	rng := rand.New(rand.NewPCG(10, 10))
	data, orders := windowedStream(rng, 4000, 2, time.Date(2026, 11, 24, 0, 0, 0, 0, order.SaoPaulo))
	cl := newClient(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for p := range data {
		recs := make([]*kgo.Record, len(data[p]))
		for i, v := range data[p] {
			recs[i] = &kgo.Record{Topic: topic, Partition: int32(p), Value: v}
		}
		cl2, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		require.NoError(t, err)
		require.NoError(t, cl2.ProduceSync(ctx, recs...).FirstErr())
		cl2.Close()
	}
	ids, err := kafka.TopicIDs(ctx, cl, topic)
	require.NoError(t, err)
	member := func() *salesAggregate {
		mgr := service.MockResources()
		kafka.RegisterInput(mgr, &kafka.InputInfo{Group: "g", Topics: []string{topic}, ConnOpts: []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}})
		conf, err := aggregateSpec().ParseYAML("interval: 1h\nwindow: 1h\nidle_timeout: 0s\nstate_topic: "+topic+"_janelas\n", nil)
		require.NoError(t, err)
		b, err := newSalesAggregateFromConfig(conf, mgr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	log := &windowLog{t: t, last: map[int64]*WindowTotals{}}
	count := func(b *salesAggregate, p int32, from, to int, assignment uint64) {
		for off := from; off < to; {
			n := min(1+rng.IntN(150), to-off)
			acks := newAckRecorder()
			var batch service.MessageBatch
			for o := off; o < off+n; o++ {
				batch = append(batch, assignedMsg(data[p][o], topic, p, int64(o), assignment))
			}
			require.NoError(t, b.WriteBatch(ctx, batch, acks.fn(nil)))
			acks.wait(t, 1)
			off += n
			b.mu.Lock()
			if out, ack, ok := b.emitWithWindowsLocked(false); ok {
				log.take(out)
				require.NoError(t, ack(ctx, nil))
			}
		}
	}
	a, b := member(), member()
	starts, err := a.Assign(ctx, topic, ids[topic], []int32{0, 1})
	require.NoError(t, err)
	half := len(data[1]) / 2
	count(a, 0, 0, len(data[0])/2, starts[0].Assignment)
	count(a, 1, 0, half, starts[1].Assignment)
	// Partition 1 moves to B: A writes it once more, B restores it.
	a.Revoke(topic, []int32{1})
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		s := a.cl.state(TopicPartition{topic, 1})
		return s != nil && s.Next == int64(half)
	}, 30*time.Second, 10*time.Millisecond, "A wrote partition 1 once more, and the state topic has it")
	startsB, err := b.Assign(ctx, topic, ids[topic], []int32{1})
	require.NoError(t, err)
	require.Equal(t, int64(half), startsB[1].Offset, "B reads on where A's state of partition 1 ends")
	count(b, 1, half, len(data[1]), startsB[1].Assignment)
	count(a, 0, len(data[0])/2, len(data[0]), starts[0].Assignment)
	// B sees A's last write of partition 0, then the input ends.
	wake(a.commitWake)
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		s := b.cl.state(TopicPartition{topic, 0})
		return s != nil && s.Next == int64(len(data[0]))
	}, 30*time.Second, 10*time.Millisecond)
	b.EndOfInput()
	drain(t, b, log.take)
	assertWindowsUpTo(t, b0spec(t), log.last, orders, b.win.closed)
}

// drain reads the buffer to its end after EndOfInput, acknowledging
// everything and handing each batch to take.
func drain(t *testing.T, b *salesAggregate, take func(service.MessageBatch)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		batch, ack, err := b.ReadBatch(ctx)
		if err == service.ErrEndOfBuffer {
			return
		}
		require.NoError(t, err)
		take(batch)
		require.NoError(t, ack(ctx, nil))
	}
}

// TestWindowTableColumns: a window's table has no variação column (a window
// is not compared with an earlier table, so it stood empty), and each row
// ends with its share of the window's revenue.
func TestWindowTableColumns(t *testing.T) {
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, order.SaoPaulo)
	w := &WindowTotals{Start: start, End: start.Add(time.Hour), Revision: 2, Orders: 3, Late: 1, Value: 4000,
		Products: []ProductTotals{{Name: "Caneca", Units: 2, Orders: 2, Value: 1000}, {Name: "Mouse", Units: 1, Orders: 1, Value: 3000}}}
	for _, width := range []int{0, 80} {
		lines := renderWindow(w, width)
		require.Len(t, lines, 7, "title, header, rule, two products, rule, total: %q", lines)
		assert.Regexp(t, `^produto +unidades +pedidos +valor +receita$`, lines[1])
		assert.Regexp(t, `^Mouse +1 +1 +R\$ 30,00 +75,00%$`, lines[3])
		assert.Regexp(t, `^TOTAL +3 +3 +R\$ 40,00 +100,00%$`, lines[6])
	}
}
