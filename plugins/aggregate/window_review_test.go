package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func revOrder(rng *rand.Rand, id string, lt order.LocalTime) []byte {
	o := &order.Order{ID: id, Customer: validCPF(rng), SoldAt: lt,
		Items: []order.Item{{Name: "Produto A", Quantity: 1, UnitPrice: 100}}}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

func at(d, h, m int) order.LocalTime {
	return order.LocalTime{Year: 2026, Month: 11, Day: uint8(d), Hour: uint8(h), Minute: uint8(m)}
}

// TestWindowFailuresPutBackWhatWasDelivered: two window emissions in flight
// fail in the order they were emitted: what was last delivered (nothing) is
// put back, so the window goes out again as final.
func TestWindowFailuresPutBackWhatWasDelivered(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\nallowed_lateness: 0s\nidle_timeout: 0s\n")
	rng := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{
		kafkaMsg(revOrder(rng, "a", at(24, 10, 0)), testTopic, 0, 0),
		kafkaMsg(revOrder(rng, "b", at(24, 12, 0)), testTopic, 0, 1)}, nop))
	b.mu.Lock()
	e1, ack1, ok := b.emitWithWindowsLocked(false)
	require.True(t, ok)
	require.NoError(t, b.WriteBatch(ctx, service.MessageBatch{kafkaMsg(revOrder(rng, "c", at(24, 10, 30)), testTopic, 0, 2)}, nop))
	b.mu.Lock()
	e2, ack2, ok := b.emitWithWindowsLocked(false)
	require.True(t, ok)
	k1, _ := e1[0].MetaGet(MetaWindow)
	k2, _ := e2[0].MetaGet(MetaWindow)
	t.Logf("E1 %s, E2 %s", k1, k2)
	fail := errors.New("output down")
	_ = ack1(ctx, fail)
	_ = ack2(ctx, fail)
	b.mu.Lock()
	w10 := time.Date(2026, 11, 24, 10, 0, 0, 0, order.SaoPaulo).Unix()
	e, had := b.win.emitted[w10]
	b.mu.Unlock()
	t.Logf("after both failed: emitted[10:00]=%+v present=%v", e, had)
	b.mu.Lock()
	e3, ack3, ok := b.emitWithWindowsLocked(false)
	require.True(t, ok)
	for _, m := range e3 {
		if k, ok := m.MetaGet(MetaWindow); ok {
			raw, _ := m.AsBytes()
			t.Logf("re-emitted: %s %s", k, raw)
		}
	}
	_ = ack3(ctx, nil)
	require.False(t, had, "no emission of 10:00 was delivered: it must be emitted again as final (revisao 1)")
}

// TestManyWindowsAtTheEnd: 20 000 windows due at once (the end of a file)
// are combined in one pass over each partition's windows (this took seconds,
// quadratic, before; timed by nothing here, only logged).
func TestManyWindowsAtTheEnd(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1m\nallowed_lateness: 0s\nidle_timeout: 0s\nmax_future: 0s\n")
	rng := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, order.SaoPaulo)
	const n = 20000 // 20000 minutes, ~14 days: inside 7d retention of... all open until the end
	var batch service.MessageBatch
	for i := range n {
		batch = append(batch, service.NewMessage(revOrder(rng, fmt.Sprint(i), order.LocalTimeOf(start.Add(time.Duration(i)*time.Minute)))))
	}
	require.NoError(t, b.WriteBatch(ctx, batch, nop))
	b.EndOfInput()
	t0 := time.Now()
	wins := 0
	drain(t, b, func(mb service.MessageBatch) {
		for _, m := range mb {
			if _, ok := m.MetaGet(MetaWindow); ok {
				wins++
			}
		}
	})
	t.Logf("%d windows emitted at the end in %v", wins, time.Since(t0))
	require.Equal(t, n, wins, "every window, final at the end of the input")
}

// TestWindowStateRecordStaysUnderTheLimit: 1s windows of one product each
// (200 000 of them) are stopped by max_window_products, each window counting
// rows of its own, before the partition's state record passes the state
// topic's 16 MiB.
func TestWindowStateRecordStaysUnderTheLimit(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nwindow: 1s\nallowed_lateness: 0s\nidle_timeout: 0s\nmax_future: 0s\n")
	rng := rand.New(rand.NewPCG(1, 1))
	ctx := context.Background()
	nop := func(context.Context, error) error { return nil }
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, order.SaoPaulo)
	const n = 200000
	var batch service.MessageBatch
	for i := range n {
		batch = append(batch, kafkaMsg(revOrder(rng, fmt.Sprint(i), order.LocalTimeOf(start.Add(time.Duration(i)*time.Second))), testTopic, 0, int64(i)))
	}
	require.NoError(t, b.WriteBatch(ctx, batch, nop))
	rej, _ := readReady(t, b)
	require.NotEmpty(t, rej, "one window a second, a product each: max_window_products stops them")
	reason, _ := rej[0].MetaGet(MetaRejectedReason)
	require.Contains(t, reason, "max_window_products (150000)")
	// Close them all, so the marks are in the record too (as after ticks).
	b.mu.Lock()
	lp := b.parts[TopicPartition{testTopic, 0}]
	w := lp.agg.win
	s := &partitionState{Topic: testTopic, Partition: 0, Next: lp.next, Orders: lp.agg.orders,
		Products: []ProductTotals{lp.agg.products[0].ProductTotals}, Since: []int64{0},
		WindowSpec: b.win.conf.String(), MaxEvent: w.maxEvent, Closed: b.win.closed, DedupeFrom: -1}
	s.Windows, s.Marks = w.windowsState(), b.win.marks()
	slots := w.slots
	b.mu.Unlock()
	rec := appendState(nil, s)
	t.Logf("slots %d, windows %d, marks %d, state record %d bytes (limit %d)", slots, len(s.Windows), len(s.Marks), len(rec), changelogMaxBytes)
	require.LessOrEqual(t, len(rec), changelogMaxBytes, "a state record the state topic refuses")
}

func windowMember(t *testing.T, ctx context.Context, brokers, topic string, ids map[string][16]byte, extra string) (*salesAggregate, kafka.Start) {
	return stateMember(t, ctx, brokers, topic, ids[topic], 0, "interval: 1h\nwindow: 1h\nidle_timeout: 0s\nstate_topic: "+topic+"_janelas\n"+extra)
}

// stateMember is a member of group g, from the sales_aggregate config yaml,
// that owns partition 0 of topic (whose ID is id), its input's
// checkpoint_limit checkpointLimit (0: not known); closed with the test.
func stateMember(t *testing.T, ctx context.Context, brokers, topic string, id [16]byte, checkpointLimit int, yaml string) (*salesAggregate, kafka.Start) {
	t.Helper()
	mgr := service.MockResources()
	kafka.RegisterInput(mgr, &kafka.InputInfo{Group: "g", Topics: []string{topic}, ConnOpts: []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, CheckpointLimit: checkpointLimit})
	conf, err := aggregateSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	b, err := newSalesAggregateFromConfig(conf, mgr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	starts, err := b.Assign(ctx, topic, id, []int32{0})
	require.NoError(t, err)
	return b, starts[0]
}

func settleAndCrash(t *testing.T, ctx context.Context, b *salesAggregate) {
	wake(b.commitWake)
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, lp := range b.parts {
			if lp.dirty {
				return false
			}
		}
		return !b.committing
	}, 30*time.Second, 10*time.Millisecond)
	b.mu.Lock()
	b.crash = true
	b.mu.Unlock()
	require.NoError(t, b.Close(ctx))
}

func writeAll(t *testing.T, ctx context.Context, b *salesAggregate, topic string, data [][]byte, from, to int, asg uint64) {
	acks := newAckRecorder()
	var batch service.MessageBatch
	for o := from; o < to; o++ {
		batch = append(batch, assignedMsg(data[o], topic, 0, int64(o), asg))
	}
	require.NoError(t, b.WriteBatch(ctx, batch, acks.fn(nil)))
	acks.wait(t, 1)
}

// TestWindowUndeliveredBeforeCrashIsEmittedAgain: a window handed to the
// output and not acknowledged when the member crashes is emitted again by
// the next one (its mark goes to the state topic only once delivered).
func TestWindowUndeliveredBeforeCrashIsEmittedAgain(t *testing.T) {
	t.Cleanup(lifecycle.SetExit(func(code int) { t.Errorf("exit %d", code) }))
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 1)
	rng := rand.New(rand.NewPCG(2, 2))
	data := [][]byte{revOrder(rng, "a", at(24, 10, 0)), revOrder(rng, "b", at(24, 12, 0))}
	kafkatest.Produce(t, brokers, topic, nil, data)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
	require.NoError(t, err)

	a, st := windowMember(t, ctx, brokers, topic, ids, "allowed_lateness: 0s\n")
	writeAll(t, ctx, a, topic, data, 0, 2, st.Assignment)
	a.mu.Lock()
	out, _, ok := a.emitWithWindowsLocked(false) // handed to the output, never acknowledged
	require.True(t, ok)
	n := 0
	for _, m := range out {
		if _, ok := m.MetaGet(MetaWindow); ok {
			n++
		}
	}
	require.Equal(t, 1, n, "10:00 handed to the output")
	settleAndCrash(t, ctx, a) // kill -9 before the output delivered it

	b, st := windowMember(t, ctx, brokers, topic, ids, "allowed_lateness: 0s\n")
	writeAll(t, ctx, b, topic, data, int(st.Offset), 2, st.Assignment) // nothing new
	got := 0
	b.mu.Lock()
	if out, ack, ok := b.emitWithWindowsLocked(false); ok {
		for _, m := range out {
			if _, ok := m.MetaGet(MetaWindow); ok {
				got++
			}
		}
		_ = ack(ctx, nil)
	}
	b.EndOfInput()
	drain(t, b, func(mb service.MessageBatch) {
		for _, m := range mb {
			if _, ok := m.MetaGet(MetaWindow); ok {
				got++
			}
		}
	})
	require.Equal(t, 1, got, "window 10:00 was never delivered; at least once means the next member emits it")
}

// TestDedupeReplayKeepsTheHorizon: after a crash, the ids read again are
// remembered until the same expiry as the first time: a copy that comes after
// its id's horizon is counted, crash or not.
func TestDedupeReplayKeepsTheHorizon(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprint("crash=", crash), func(t *testing.T) {
			t.Cleanup(lifecycle.SetExit(func(code int) { t.Errorf("exit %d", code) }))
			brokers := kafkatest.Brokers(t)
			topic := kafkatest.CreateTopic(t, brokers, 1)
			rng := rand.New(rand.NewPCG(3, 3))
			data := [][]byte{
				revOrder(rng, "B", at(24, 12, 0)),  // expiry 12:00, kept until closed > 13:00
				revOrder(rng, "A", at(24, 10, 0)),  // expiry max(10:00, 12:00-1h) = 11:00: kept until closed > 12:00
				revOrder(rng, "C", at(24, 13, 30)), // watermark 12:30: A expired
				revOrder(rng, "A", at(24, 10, 0)),  // a copy of A after its horizon: counted (spec)
			}
			kafkatest.Produce(t, brokers, topic, nil, data)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
			require.NoError(t, err)
			extra := "allowed_lateness: 1h\ndedupe: true\n"
			m, st := windowMember(t, ctx, brokers, topic, ids, extra)
			writeAll(t, ctx, m, topic, data, 0, 3, st.Assignment)
			m.mu.Lock()
			if _, ack, ok := m.emitWithWindowsLocked(false); ok {
				_ = ack(ctx, nil)
			}
			if crash {
				settleAndCrash(t, ctx, m)
				m, st = windowMember(t, ctx, brokers, topic, ids, extra)
				t.Logf("restored member reads from offset %d", st.Offset)
				writeAll(t, ctx, m, topic, data, int(st.Offset), 3, st.Assignment)
			}
			writeAll(t, ctx, m, topic, data, 3, 4, st.Assignment)
			m.mu.Lock()
			lp := m.parts[TopicPartition{topic, 0}]
			orders, dups := lp.agg.orders, lp.agg.win.dedupe.dups
			m.mu.Unlock()
			t.Logf("orders %d duplicados %d", orders, dups)
			require.Equal(t, int64(4), orders, "the copy of A came after its horizon: counted, crash or not")
		})
	}
}

// TestWindowsNeedAnIntervalWithKafka: with a Kafka input, windows close at
// the interval's ticks and the input never ends: interval 0s is refused.
func TestWindowsNeedAnIntervalWithKafka(t *testing.T) {
	mgr := service.MockResources()
	kafka.RegisterInput(mgr, &kafka.InputInfo{Group: "g", Topics: []string{"t"}})
	conf, err := aggregateSpec().ParseYAML("interval: 0s\nwindow: 1h\n", nil)
	require.NoError(t, err)
	_, err = newSalesAggregateFromConfig(conf, mgr)
	require.ErrorContains(t, err, "field interval: 0s with field window and a kafka_franz input")
}
