package aggregate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// paceMember is a member owning partition 0 of topic, its state in
// <topic>_totais, with the sales_aggregate fields in extra, its input's
// checkpoint_limit 16384 (consume.yaml's).
func paceMember(t *testing.T, ctx context.Context, brokers, topic, extra string) (*salesAggregate, kafka.Start) {
	return paceMemberLimit(t, ctx, brokers, topic, 16384, extra)
}

func paceMemberLimit(t *testing.T, ctx context.Context, brokers, topic string, checkpointLimit int, extra string) (*salesAggregate, kafka.Start) {
	t.Helper()
	ids, err := kafka.TopicIDs(ctx, newClient(t, brokers), topic)
	require.NoError(t, err)
	return stateMember(t, ctx, brokers, topic, ids[topic], checkpointLimit, "interval: 1h\nstate_topic: "+topic+"_totais\n"+extra)
}

// paceBatch is n orders of partition 0 from offset from on.
func paceBatch(topic string, from, n int, asg uint64) service.MessageBatch {
	item := order.Item{Name: "Mouse", Quantity: 1, UnitPrice: 10}
	batch := make(service.MessageBatch, n)
	for i := range batch {
		batch[i] = assignedMsg(orderJSON(strconv.Itoa(from+i), item), topic, 0, int64(from+i), asg)
	}
	return batch
}

// writeTimed hands batch to b and returns when its acknowledgement came
// (it waits for the state write that covers it), failing after limit.
func writeTimed(t *testing.T, ctx context.Context, b *salesAggregate, batch service.MessageBatch, limit time.Duration) time.Time {
	t.Helper()
	acked := writeAsync(t, ctx, b, batch)
	select {
	case err := <-acked:
		require.NoError(t, err)
		return time.Now()
	case <-time.After(limit):
		t.Fatalf("a batch of %d was not acknowledged within %v", len(batch), limit)
		return time.Time{}
	}
}

// writeAsync hands batch to b; its acknowledgement's error arrives on the
// channel returned.
func writeAsync(t *testing.T, ctx context.Context, b *salesAggregate, batch service.MessageBatch) <-chan error {
	t.Helper()
	acked := make(chan error, 1)
	require.NoError(t, b.WriteBatch(ctx, batch, func(_ context.Context, err error) error {
		acked <- err
		return nil
	}))
	return acked
}

// TestCommitPeriodPacesWrites: with state_topic, a write starts at least
// commit_period after the one before it, unless half of max_pending records,
// or of the input's checkpoint_limit, wait for one, the input waits for room,
// a partition is revoked, or the input ends.
func TestCommitPeriodPacesWrites(t *testing.T) {
	t.Cleanup(lifecycle.SetExit(func(code int) { t.Errorf("exit %d", code) }))
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("paced", func(t *testing.T) {
		topic := kafkatest.CreateTopic(t, brokers, 1)
		const period = 400 * time.Millisecond
		b, st := paceMember(t, ctx, brokers, topic, "commit_period: 400ms\nmax_pending: 1000\n")
		first := time.Now()
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		second := writeTimed(t, ctx, b, paceBatch(topic, 1, 1, st.Assignment), 10*time.Second)
		assert.GreaterOrEqual(t, second.Sub(first), period, "the second write started before commit_period had passed since the first")
		var c metricsCount
		c.read(b)
		assert.Equal(t, int64(2), c.orders)
	})

	t.Run("half of max_pending does not wait", func(t *testing.T) {
		topic := kafkatest.CreateTopic(t, brokers, 1)
		b, st := paceMember(t, ctx, brokers, topic, "commit_period: 1h\nmax_pending: 1000\n")
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		// 500 records: half of max_pending, written without waiting an hour.
		writeTimed(t, ctx, b, paceBatch(topic, 1, 500, st.Assignment), 10*time.Second)
	})

	t.Run("half of checkpoint_limit does not wait", func(t *testing.T) {
		// The input hands over no more than 64 records of the partition
		// unacknowledged: waiting for 500 would hold each write an hour.
		topic := kafkatest.CreateTopic(t, brokers, 1)
		b, st := paceMemberLimit(t, ctx, brokers, topic, 64, "commit_period: 1h\nmax_pending: 1000\n")
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		writeTimed(t, ctx, b, paceBatch(topic, 1, 32, st.Assignment), 10*time.Second)
	})

	t.Run("a batch that waits for room does not wait for the period", func(t *testing.T) {
		topic := kafkatest.CreateTopic(t, brokers, 1)
		b, st := paceMember(t, ctx, brokers, topic, "commit_period: 1h\nmax_pending: 1000\n")
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		first := writeAsync(t, ctx, b, paceBatch(topic, 1, 400, st.Assignment)) // under half: paced
		// 400 + 700 > max_pending: WriteBatch waits for the write of the 400.
		taken := make(chan error, 1)
		go func() {
			taken <- b.WriteBatch(ctx, paceBatch(topic, 401, 700, st.Assignment), func(context.Context, error) error { return nil })
		}()
		select {
		case err := <-first:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the input waited for room, and the write it waited for did not start")
		}
		require.NoError(t, <-taken)
	})

	t.Run("a revocation does not wait", func(t *testing.T) {
		topic := kafkatest.CreateTopic(t, brokers, 1)
		b, st := paceMember(t, ctx, brokers, topic, "commit_period: 1h\nmax_pending: 1000\n")
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		acked := writeAsync(t, ctx, b, paceBatch(topic, 1, 1, st.Assignment))
		select {
		case <-acked:
			t.Fatal("a record was written before commit_period (1h) had passed, with nothing due")
		case <-time.After(300 * time.Millisecond):
		}
		b.Revoke(topic, []int32{0})
		select {
		case err := <-acked:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the revoked partition's state was not written")
		}
	})

	t.Run("the end of the input does not wait", func(t *testing.T) {
		topic := kafkatest.CreateTopic(t, brokers, 1)
		b, st := paceMember(t, ctx, brokers, topic, "commit_period: 1h\n")
		writeTimed(t, ctx, b, paceBatch(topic, 0, 1, st.Assignment), 10*time.Second)
		acked := writeAsync(t, ctx, b, paceBatch(topic, 1, 1, st.Assignment))
		b.EndOfInput()
		select {
		case err := <-acked:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the last batch was not written after the end of the input")
		}
	})
}

// metricsCount reads the orders a member counted.
type metricsCount struct{ orders int64 }

func (c *metricsCount) read(b *salesAggregate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, lp := range b.parts {
		c.orders += lp.agg.orders
	}
}

func TestPaceDue(t *testing.T) {
	assert.Equal(t, 32768, paceDue(65536, nil))
	assert.Equal(t, 32768, paceDue(65536, &kafka.InputInfo{}), "checkpoint_limit not known")
	assert.Equal(t, 512, paceDue(65536, &kafka.InputInfo{CheckpointLimit: 1024}), "kafka_franz's default checkpoint_limit")
	assert.Equal(t, 8192, paceDue(16384, &kafka.InputInfo{CheckpointLimit: 16384}), "consume.yaml")
	assert.Equal(t, 1, paceDue(1, &kafka.InputInfo{CheckpointLimit: 1}))
}

func TestCommitPeriodRefusesNegative(t *testing.T) {
	conf, err := aggregateSpec().ParseYAML("commit_period: -1s\n", nil)
	require.NoError(t, err)
	_, err = newSalesAggregateFromConfig(conf, service.MockResources())
	require.ErrorContains(t, err, "commit_period")
	require.ErrorContains(t, err, "negative")
}
