package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestCountBatcher: count and byte_size (of the records' values) trigger a
// flush as in Benthos' batcher, Flush starts the next batch and restarts the
// period even when empty, and a period already due is reported as due.
func TestCountBatcher(t *testing.T) {
	ctx := context.Background()

	b, err := newCountBatcher(service.BatchPolicy{Count: 3}, nil)
	require.NoError(t, err)
	assert.False(t, b.add(1))
	assert.False(t, b.add(1))
	assert.True(t, b.add(1))
	batch, err := b.Flush(ctx)
	require.NoError(t, err)
	assert.Nil(t, batch, "it holds no messages")
	_, timed := b.untilNext()
	assert.False(t, timed, "no period")
	assert.False(t, b.add(1), "the count starts again after a flush")

	b, err = newCountBatcher(service.BatchPolicy{ByteSize: 5}, nil)
	require.NoError(t, err)
	assert.False(t, b.add(4))
	assert.True(t, b.add(1))
	_, _ = b.Flush(ctx)
	assert.False(t, b.add(4), "the size starts again after a flush")

	b, err = newCountBatcher(service.BatchPolicy{Count: 100, Period: "20ms"}, nil)
	require.NoError(t, err)
	wait, timed := b.untilNext()
	assert.True(t, timed)
	assert.InDelta(t, 20*time.Millisecond, wait, float64(10*time.Millisecond))
	time.Sleep(30 * time.Millisecond)
	wait, timed = b.untilNext()
	assert.True(t, timed, "a period already due is still a period")
	assert.LessOrEqual(t, wait, time.Duration(0))
	assert.True(t, b.add(4), "the first record after the period flushes")
	_, _ = b.Flush(ctx)
	wait, _ = b.untilNext()
	assert.Greater(t, wait, 10*time.Millisecond, "Flush restarts the period")
	time.Sleep(30 * time.Millisecond)
	_, _ = b.Flush(ctx) // empty
	wait, _ = b.untilNext()
	assert.Greater(t, wait, 10*time.Millisecond, "an empty Flush restarts the period too")

	_, err = newCountBatcher(service.BatchPolicy{Period: "soon"}, nil)
	assert.ErrorContains(t, err, `batching period "soon"`)
}

// TestPolicyBatcherDuePeriod: the flush loop flushes when a period is due
// within a millisecond; Benthos' batcher reports a due period as 1ns to go.
func TestPolicyBatcherDuePeriod(t *testing.T) {
	sb, err := service.BatchPolicy{Count: 10, Period: "5ms"}.NewBatcher(service.MockResources())
	require.NoError(t, err)
	defer func() { _ = sb.Close(context.Background()) }()
	var b recordBatcher = policyBatcher{sb}
	time.Sleep(20 * time.Millisecond)
	wait, timed := b.untilNext()
	assert.True(t, timed)
	assert.LessOrEqual(t, wait, time.Millisecond)
}

// TestLazyBatches: with count, byte_size and period alone, or no batching,
// the fetch loop hands batches over as records and ReadBatch makes their
// messages: batches cut by the values' bytes as before, each message with its
// record's content, position and metadata. With batching processors the
// fetch loop still makes the messages (Benthos' batcher needs them).
func TestLazyBatches(t *testing.T) {
	brokers := testBrokers(t)
	values := []string{"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd", "eeeeeeeeee", "ffffffffff"}
	for _, c := range []struct {
		name, batching string
		lazy           bool
		sizes          []int
	}{
		{"byte_size", "batching:\n  byte_size: 25\n  period: 1h\n", true, []int{3, 3}},
		{"count", "batching:\n  count: 4\n  period: 20ms\n", true, []int{4, 2}},
		{"none", "", true, []int{1, 1, 1, 1, 1, 1}},
		{"processors", "batching:\n  count: 2\n  processors:\n    - mapping: root = this\n", false, []int{2, 2, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			topic := createTopic(t, brokers, 1)
			produce(t, brokers, topic, values)
			r, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\n%s", brokers, topic, c.batching))
			connect(t, in)
			defer closeWithin(t, in)
			next := 0
			for _, size := range c.sizes {
				b, ack := readOne(t, in)
				require.Len(t, b, size, "batch from record %d", next)
				for _, m := range b {
					v, err := m.AsBytes()
					require.NoError(t, err)
					assert.Equal(t, values[next], string(v))
					gotTopic, p, o := position(t, m)
					assert.Equal(t, []any{topic, int32(0), int64(next)}, []any{gotTopic, p, o})
					off, _ := m.MetaGetMut(MetaOffset)
					assert.Equal(t, next, off)
					key, _ := m.MetaGet(MetaKey)
					assert.Equal(t, values[next], key, "the key (the value, as produced here)")
					next++
				}
				ackOK(t, ack)
			}
			r.mu.Lock()
			tr := r.sess.lookup(topic, 0)
			r.mu.Unlock()
			require.NotNil(t, tr)
			assert.Equal(t, c.lazy, tr.lazy)
		})
	}
}
