package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// TestProduceConsumeEndToEnd runs the two shipped configs as a user does:
// produce.yaml with ORDERS_COUNT ends by itself, kcat finds exactly those
// orders on the topic (valid, keyed by id_ordem, no id twice, spread over
// the six partitions), and consume.yaml's last JSON snapshot equals the
// independent sum over kcat's copy.
func TestProduceConsumeEndToEnd(t *testing.T) {
	t.Parallel()
	const orders = 30_000
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 6)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)

	produceOrders(t, brokers, topic, orders, "30")

	recs := readIndependently(t, brokers, topic, orders)
	require.Len(t, recs, orders, "kcat reads exactly the orders produced")
	ids := make(map[string]struct{}, orders)
	partitions := map[int32]int{}
	for _, r := range recs {
		o, err := order.Decode(r.Value)
		require.NoError(t, err, "partition %d offset %d: %s", r.Partition, r.Offset, r.Value)
		require.Equal(t, o.ID, string(r.Key), "key = id_ordem at partition %d offset %d", r.Partition, r.Offset)
		_, dup := ids[o.ID]
		require.False(t, dup, "id_ordem %s twice", o.ID)
		ids[o.ID] = struct{}{}
		partitions[r.Partition]++
	}
	assert.Len(t, partitions, 6, "records on every partition: %v", partitions)
	want := independentSum(t, recs)

	p := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), consumeEnv(brokers, topic, "e2e-"+topic))
	_, _, err := p.WaitSnapshot(time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= orders })
	require.NoError(t, err)
	require.NoError(t, p.Stop(30*time.Second), "a graceful stop ends with status 0")
	last, ok := p.LastSnapshot()
	require.True(t, ok)
	assertTotals(t, want, last)
	assert.Zero(t, last.Rejected, "rejeitados")
	assertOffsetsComplete(t, brokers, topic, last)
}
