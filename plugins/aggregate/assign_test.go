package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// batchOf makes messages of partition 0 read under assignment, at offsets
// from..to-1, whose values are orders[offset].
func batchOf(orders [][]byte, from, to int, assignment uint64) service.MessageBatch {
	var batch service.MessageBatch
	for off := from; off < to; off++ {
		batch = append(batch, assignedMsg(orders[off], testTopic, 0, int64(off), assignment))
	}
	return batch
}

func encodedOrders(n int, seed uint64) ([][]byte, []*order.Order) {
	rng := rand.New(rand.NewPCG(seed, seed))
	catalog := smallCatalog(rng, 8)
	data := make([][]byte, n)
	orders := make([]*order.Order, n)
	for i := range data {
		orders[i] = randomOrder(rng, catalog, i)
		data[i] = orders[i].AppendJSON(nil)
	}
	return data, orders
}

// TestAssignmentsDecideWhatCounts: in memory, each assignment of a partition
// counts it from its beginning, and records read under an earlier
// assignment (still in flight when the partition moved) are not counted.
func TestAssignmentsDecideWhatCounts(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s")
	ctx := context.Background()
	data, orders := encodedOrders(10, 1)
	want := newNaive()
	for _, o := range orders {
		want.add(o)
	}

	starts, err := b.Assign(ctx, testTopic, [16]byte{1}, []int32{0})
	require.NoError(t, err)
	first := starts[0]
	assert.True(t, first.FromBeginning, "in memory a partition is read from its beginning")
	acks := newAckRecorder()
	require.NoError(t, b.WriteBatch(ctx, batchOf(data, 0, 5, first.Assignment), acks.fn(nil)))

	b.Revoke(testTopic, []int32{0})
	starts, err = b.Assign(ctx, testTopic, [16]byte{1}, []int32{0})
	require.NoError(t, err)
	second := starts[0]
	require.NotEqual(t, first.Assignment, second.Assignment)
	// Still in flight from the first assignment: stale, not counted.
	require.NoError(t, b.WriteBatch(ctx, batchOf(data, 5, 8, first.Assignment), acks.fn(nil)))
	require.NoError(t, b.WriteBatch(ctx, batchOf(data, 0, 10, second.Assignment), acks.fn(nil)))
	// A record of the current assignment seen again (a replayed batch).
	require.NoError(t, b.WriteBatch(ctx, batchOf(data, 9, 10, second.Assignment), acks.fn(nil)))
	acks.wait(t, 4)
	b.EndOfInput()

	snaps, _ := readAll(t, b)
	require.NotEmpty(t, snaps)
	last := snaps[len(snaps)-1]
	assert.Equal(t, want.orders, last.Orders)
	assert.Equal(t, want.value, last.Value)
	assert.Equal(t, want.products, productsMap(last.Products))
	assert.Equal(t, map[string]map[string]int64{testTopic: {"0": 9}}, last.Offsets)
}

// TestRejectedDeliveryBacksOff: a rejected record whose delivery fails is
// emitted again only after a back-off that grows, never at once.
func TestRejectedDeliveryBacksOff(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	acks := newAckRecorder()
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte(`{"nope"`))}, acks.fn(nil)))

	var waits []time.Duration
	for range 4 {
		batch, ack := readReady(t, b)
		require.Len(t, batch, 1, "the rejected record is ready")
		require.NoError(t, ack(context.Background(), assert.AnError))
		again, _ := readReady(t, b)
		require.Empty(t, again, "not emitted again at once after a failed delivery")
		b.mu.Lock()
		wait := b.retryAt.Sub(now)
		b.mu.Unlock()
		waits = append(waits, wait)
		now = now.Add(wait)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, waits)
}

// TestAnyWriterStateIsExact is the argument for the state design, on a
// broker: a partition's state is a function of its records up to the
// stored offset, so a member that lost the partition without noticing (a
// zombie) and goes on writing cannot make the totals wrong. A counts offsets
// 0–9; B is given the partition (A is not told) and counts 10–19; A goes on
// with 10–14 and writes them; C, the next owner, restores the most advanced
// state and counts 20–29. C's totals are those of the 30 orders.
func TestAnyWriterStateIsExact(t *testing.T) {
	exited := make(chan int, 1)
	t.Cleanup(lifecycle.SetExit(func(code int) { exited <- code }))

	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 1)
	data, orders := encodedOrders(30, 2)
	kafkatest.Produce(t, brokers, topic, nil, data)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
	require.NoError(t, err)
	id := ids[topic]

	member := func() *salesAggregate {
		mgr := service.MockResources()
		kafka.RegisterInput(mgr, &kafka.InputInfo{Group: "g", Topics: []string{topic}, ConnOpts: []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}})
		conf, err := aggregateSpec().ParseYAML("interval: 0s\nstate_topic: "+topic+"_totais\n", nil)
		require.NoError(t, err)
		b, err := newSalesAggregateFromConfig(conf, mgr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	msgs := func(from, to int, assignment uint64) service.MessageBatch {
		var batch service.MessageBatch
		for off := from; off < to; off++ {
			batch = append(batch, assignedMsg(data[off], topic, 0, int64(off), assignment))
		}
		return batch
	}
	write := func(b *salesAggregate, from, to int, assignment uint64) {
		acks := newAckRecorder()
		require.NoError(t, b.WriteBatch(ctx, msgs(from, to, assignment), acks.fn(nil)))
		acks.wait(t, 1)
		require.NoError(t, acks.errs[0], "acknowledged once the state is on the broker")
	}
	assign := func(b *salesAggregate) kafka.Start {
		starts, err := b.Assign(ctx, topic, id, []int32{0})
		require.NoError(t, err)
		return starts[0]
	}

	a := member()
	sa := assign(a)
	assert.Equal(t, kafka.Start{Offset: 0, Assignment: sa.Assignment}, sa, "no state: from the partition's first offset")
	write(a, 0, 10, sa.Assignment)

	b := member()
	sb := assign(b)
	assert.Equal(t, int64(10), sb.Offset, "B reads on from A's state")
	write(b, 10, 20, sb.Assignment)
	write(a, 10, 15, sa.Assignment) // the zombie

	// Compaction keeps a key's latest record: B, the owner, sees the
	// zombie's smaller state and writes its own again, so the latest is the
	// most advanced.
	require.Eventually(t, func() bool {
		recs := kafkatest.ReadTopic(t, brokers, topic+"_totais", countRecords(t, brokers, topic+"_totais"))
		var last *partitionState
		for _, r := range recs {
			if string(r.Key) == topic+"/0" {
				s, err := parseState(r.Value)
				require.NoError(t, err)
				last = s
			}
		}
		return last != nil && last.Next == 20
	}, 30*time.Second, 100*time.Millisecond, "the latest state record of the partition is the owner's")

	c := member()
	sc := assign(c)
	assert.Equal(t, int64(20), sc.Offset, "C restores the most advanced state")
	write(c, 20, 30, sc.Assignment)
	c.EndOfInput()
	snaps, _ := readAll(t, c)
	last := snaps[len(snaps)-1]
	want := newNaive()
	for _, o := range orders {
		want.add(o)
	}
	assert.Equal(t, want.orders, last.Orders)
	assert.Equal(t, want.value, last.Value)
	assert.Equal(t, want.products, productsMap(last.Products))

	// The zombie's own state is exact for what it covers: offsets 0–14.
	a.mu.Lock()
	zombie := a.parts[TopicPartition{topic, 0}]
	prefix := newNaive()
	for _, o := range orders[:15] {
		prefix.add(o)
	}
	assert.Equal(t, int64(15), zombie.next)
	assert.Equal(t, prefix.orders, zombie.agg.orders)
	a.mu.Unlock()
	select {
	case code := <-exited:
		t.Fatalf("a member stopped the process (status %d)", code)
	default:
	}
}

func newClient(t *testing.T, brokers string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

// TestMaxProducts: an order that would take a partition past max_products
// distinct products is rejected with a reason; known products still count.
func TestMaxProducts(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s\nmax_products: 2")
	mk := func(names ...string) []byte {
		o := &order.Order{ID: "x", Customer: "529.982.247-25", SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: 10}}
		for _, n := range names {
			o.Items = append(o.Items, order.Item{Name: n, Quantity: 1, UnitPrice: 100})
		}
		o.Total = o.ItemsTotal()
		return o.AppendJSON(nil)
	}
	acks := newAckRecorder()
	batch := service.MessageBatch{
		kafkaMsg(mk("A", "A"), testTopic, 0, 0),
		kafkaMsg(mk("B"), testTopic, 0, 1),
		kafkaMsg(mk("A", "C"), testTopic, 0, 2), // a third product: rejected
		kafkaMsg(mk("B", "A"), testTopic, 0, 3),
	}
	require.NoError(t, b.WriteBatch(context.Background(), batch, acks.fn(nil)))
	acks.wait(t, 1)
	b.EndOfInput()
	snaps, rejected := readAll(t, b)
	require.Len(t, rejected, 1)
	reason, _ := rejected[0].MetaGet(MetaRejectedReason)
	assert.Equal(t, "produtos: the order would add 1 new products to the 2 already counted in this partition, over the limit of 2 distinct products (field max_products)", reason)
	last := snaps[len(snaps)-1]
	assert.Equal(t, int64(3), last.Orders)
	assert.Equal(t, int64(1), last.Rejected)
	assert.Len(t, last.Products, 2)
}

// TestLargestStateFits: the state of a partition at max_products, every name
// as long as the decoder allows in 4-byte characters, fits in a record of the
// state topic.
func TestLargestStateFits(t *testing.T) {
	s := &partitionState{Topic: strings.Repeat("t", 249), Partition: 1 << 30, Next: 1 << 62, DLQFrom: 1 << 62, Orders: 1 << 62, Rejected: 1 << 62, Writer: strings.Repeat("h", 300)}
	for i := range maxProducts {
		name := fmt.Sprintf("%05d", i) + strings.Repeat("😀", 195)
		s.Products = append(s.Products, ProductTotals{Name: name, Units: 1 << 62, Orders: 1 << 62, Value: 1 << 62})
	}
	size := len(appendState(nil, s))
	t.Logf("largest state record: %d bytes, limit %d", size, changelogMaxBytes)
	assert.Less(t, size+1024, changelogMaxBytes)
	back, err := parseState(appendState(nil, s))
	require.NoError(t, err)
	assert.Equal(t, s.Products[9999], back.Products[9999])
}

// TestRevokedInMemoryKeepsItsTotals: at shutdown the input leaves the group
// and its partitions are revoked before the last snapshot; in memory that
// snapshot must still hold every order counted.
func TestRevokedInMemoryKeepsItsTotals(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s")
	ctx := context.Background()
	data, orders := encodedOrders(20, 3)
	starts, err := b.Assign(ctx, testTopic, [16]byte{1}, []int32{0})
	require.NoError(t, err)
	acks := newAckRecorder()
	require.NoError(t, b.WriteBatch(ctx, batchOf(data, 0, 20, starts[0].Assignment), acks.fn(nil)))
	acks.wait(t, 1)
	b.Revoke(testTopic, []int32{0})
	b.EndOfInput()
	snaps, _ := readAll(t, b)
	require.NotEmpty(t, snaps)
	want := newNaive()
	for _, o := range orders {
		want.add(o)
	}
	last := snaps[len(snaps)-1]
	assert.Equal(t, want.orders, last.Orders)
	assert.Equal(t, want.value, last.Value)
}

// countRecords is the number of records in topic (the sum of its end offsets).
func countRecords(t *testing.T, brokers, topic string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kafkatest.Admin(t, brokers).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	n := int64(0)
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return int(n)
}

func limitOrder(names ...string) []byte {
	o := &order.Order{ID: "x", Customer: "529.982.247-25", SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: 10}}
	for _, n := range names {
		o.Items = append(o.Items, order.Item{Name: n, Quantity: 1, UnitPrice: 100})
	}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

// TestReplayReemitsProductLimitRejections: a record rejected for
// max_products, not yet delivered when its owner dies, is emitted again by
// the next owner, with the same reason (the state keeps where each product
// was first counted).
func TestReplayReemitsProductLimitRejections(t *testing.T) {
	t.Cleanup(lifecycle.SetExit(func(code int) { t.Logf("exit %d", code) }))
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 1)
	data := [][]byte{limitOrder("A"), limitOrder("B"), limitOrder("A")}
	kafkatest.Produce(t, brokers, topic, nil, data)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
	require.NoError(t, err)
	id := ids[topic]
	member := func() *salesAggregate {
		mgr := service.MockResources()
		kafka.RegisterInput(mgr, &kafka.InputInfo{Group: "g", Topics: []string{topic}, ConnOpts: []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}})
		conf, err := aggregateSpec().ParseYAML("interval: 0s\nmax_products: 1\nstate_topic: "+topic+"_totais\n", nil)
		require.NoError(t, err)
		b, err := newSalesAggregateFromConfig(conf, mgr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close(context.Background()) })
		return b
	}
	a := member()
	starts, err := a.Assign(ctx, topic, id, []int32{0})
	require.NoError(t, err)
	var batch service.MessageBatch
	for off := range 3 {
		batch = append(batch, assignedMsg(data[off], topic, 0, int64(off), starts[0].Assignment))
	}
	acks := newAckRecorder()
	require.NoError(t, a.WriteBatch(ctx, batch, acks.fn(nil)))
	acks.wait(t, 1) // state (next 3, dlq_desde 1) is on the broker
	a.mu.Lock()
	a.crash = true // kill -9 before the rejected record reaches the output
	a.mu.Unlock()

	b := member()
	starts, err = b.Assign(ctx, topic, id, []int32{0})
	require.NoError(t, err)
	batch = nil
	for off := starts[0].Offset; off < 3; off++ {
		batch = append(batch, assignedMsg(data[off], topic, 0, off, starts[0].Assignment))
	}
	acks2 := newAckRecorder()
	require.NoError(t, b.WriteBatch(ctx, batch, acks2.fn(nil)))
	acks2.wait(t, 1)
	b.mu.Lock()
	lp := b.parts[TopicPartition{topic, 0}]
	t.Logf("B: start=%d ready=%d next=%d dlqFrom=%d", starts[0].Offset, len(b.ready), lp.next, lp.dlqFrom())
	n := len(b.ready)
	b.mu.Unlock()
	require.Equal(t, 1, n, "the record rejected by max_products must be emitted again")
	b.mu.Lock()
	reason := b.ready[0].reason
	b.mu.Unlock()
	assert.Equal(t, "produtos: the order would add 1 new products to the 1 already counted in this partition, over the limit of 1 distinct products (field max_products)", reason)
}

// TestStateTopicMustBeCompacted: an existing state topic that deletes old
// records is refused, naming its cleanup.policy.
func TestStateTopicMustBeCompacted(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	name := kafkatest.TopicName(t) + "_totais"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kafkatest.Admin(t, brokers)
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), name) })

	_, err = openChangelog(ctx, []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, name, 1, nil, func(*partitionState, bool) {})
	require.ErrorIs(t, err, errNotCompacted)
	assert.Contains(t, err.Error(), "cleanup.policy=delete")
}
