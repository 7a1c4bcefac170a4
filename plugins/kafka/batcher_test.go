package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestCountBatcher: count and byte_size trigger a flush as in Benthos'
// batcher, a batch keeps its messages in order, Flush restarts the period
// even when empty, and a period already due is reported as due.
func TestCountBatcher(t *testing.T) {
	ctx := context.Background()
	msg := func(s string) *service.Message { return service.NewMessage([]byte(s)) }

	b, err := newCountBatcher(service.BatchPolicy{Count: 3}, nil)
	require.NoError(t, err)
	assert.False(t, b.Add(msg("a")))
	assert.False(t, b.Add(msg("b")))
	assert.True(t, b.Add(msg("c")))
	batch, err := b.Flush(ctx)
	require.NoError(t, err)
	require.Len(t, batch, 3)
	for i, want := range []string{"a", "b", "c"} {
		got, _ := batch[i].AsBytes()
		assert.Equal(t, want, string(got))
	}
	_, timed := b.untilNext()
	assert.False(t, timed, "no period")
	batch, err = b.Flush(ctx)
	assert.NoError(t, err)
	assert.Nil(t, batch)

	b, err = newCountBatcher(service.BatchPolicy{ByteSize: 5}, nil)
	require.NoError(t, err)
	assert.False(t, b.Add(msg("abcd")))
	assert.True(t, b.Add(msg("e")))
	batch, _ = b.Flush(ctx)
	assert.Len(t, batch, 2)
	assert.False(t, b.Add(msg("abcd")), "the size starts again after a flush")

	b, err = newCountBatcher(service.BatchPolicy{Count: 100, Period: "20ms"}, nil)
	require.NoError(t, err)
	wait, timed := b.untilNext()
	assert.True(t, timed)
	assert.InDelta(t, 20*time.Millisecond, wait, float64(10*time.Millisecond))
	time.Sleep(30 * time.Millisecond)
	wait, timed = b.untilNext()
	assert.True(t, timed, "a period already due is still a period")
	assert.LessOrEqual(t, wait, time.Duration(0))
	assert.True(t, b.Add(msg("late")), "the first message after the period flushes")
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
