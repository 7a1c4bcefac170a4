package aggregate

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// TestHotPathDoesNotAllocate keeps the decode-and-apply path free of
// allocations per order (issue 14): the Aggregator on its own, and the buffer
// counting a batch of positioned messages in memory. Orders are warmed up
// first, so that product names are interned.
func TestHotPathDoesNotAllocate(t *testing.T) {
	pool := benchOrders(4096)

	a := NewAggregator()
	recs := make([]Record, len(pool))
	for i, d := range pool {
		recs[i] = Record{Data: d}
		_, err := a.Apply(&recs[i])
		require.NoError(t, err)
	}
	i := 0
	allocs := testing.AllocsPerRun(20000, func() {
		_, _ = a.Apply(&recs[i%len(recs)])
		i++
	})
	assert.Zero(t, allocs, "Aggregator.Apply allocates per order")

	b := newTestBuffer(t, "interval: 0s")
	ack := func(context.Context, error) error { return nil }
	// Three batches of new offsets: one to warm up, one for AllocsPerRun's
	// own warm-up run, one measured.
	batches := make([]service.MessageBatch, 3)
	off := int64(0)
	for k := range batches {
		batches[k] = make(service.MessageBatch, len(pool))
		for j, d := range pool {
			batches[k][j] = kafkaMsg(d, testTopic, 0, off)
			off++
		}
	}
	require.NoError(t, b.WriteBatch(context.Background(), batches[0], ack))
	next := 1
	perBatch := testing.AllocsPerRun(1, func() {
		require.NoError(t, b.WriteBatch(context.Background(), batches[next], ack))
		next++
	})
	require.Equal(t, 3, next, "every batch was written once")
	b.mu.Lock()
	counted := b.parts[TopicPartition{testTopic, 0}].agg.Orders()
	b.mu.Unlock()
	require.Equal(t, int64(3*len(pool)), counted, "every order of the three batches was counted")
	// A batch may allocate a little (the ack), never per order.
	assert.Less(t, perBatch/float64(len(pool)), 0.01, "sales_aggregate allocates %.0f times for a batch of %d orders", perBatch, len(pool))

	// The same records delivered in bulk, as kafka_franz does for this buffer.
	bb := newTestBuffer(t, "interval: 0s")
	bulks := make([]service.MessageBatch, 3)
	off = 0
	for k := range bulks {
		recs := make([]*kgo.Record, len(pool))
		for j, d := range pool {
			recs[j] = &kgo.Record{Value: d, Offset: off}
			off++
		}
		bulks[k] = service.MessageBatch{kafka.BulkMessage(kafka.Position{Topic: testTopic}, recs)}
	}
	require.NoError(t, bb.WriteBatch(context.Background(), bulks[0], ack))
	next = 1
	perBulk := testing.AllocsPerRun(1, func() {
		require.NoError(t, bb.WriteBatch(context.Background(), bulks[next], ack))
		next++
	})
	bb.mu.Lock()
	counted = bb.parts[TopicPartition{testTopic, 0}].agg.Orders()
	bb.mu.Unlock()
	require.Equal(t, int64(3*len(pool)), counted, "every order of the three bulks was counted")
	assert.Less(t, perBulk/float64(len(pool)), 0.01, "sales_aggregate allocates %.0f times for a bulk of %d orders", perBulk, len(pool))
}

// TestWindowedHotPathDoesNotAllocate: with hourly windows the path stays
// free of allocations per order once its windows exist.
func TestWindowedHotPathDoesNotAllocate(t *testing.T) {
	pool := benchOrders(4096)
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\n")
	a := b.newAgg()
	recs := make([]Record, len(pool))
	for i, d := range pool {
		recs[i] = Record{Data: d}
		_, err := a.Apply(&recs[i])
		require.NoError(t, err)
	}
	require.NotEmpty(t, a.win.wins, "the orders made windows")
	i := 0
	allocs := testing.AllocsPerRun(20000, func() {
		_, _ = a.Apply(&recs[i%len(recs)])
		i++
	})
	assert.Zero(t, allocs, "Aggregator.Apply with windows allocates per order")
}
