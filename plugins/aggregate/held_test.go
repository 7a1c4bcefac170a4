package aggregate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestRejectedHeldIsBounded: while the output (the DLQ) does not take the
// rejected records, at most max_rejected_held of them (or of
// max_rejected_held_bytes) are held; counting then waits, and goes on once
// the output takes them. Nothing is dropped.
func TestRejectedHeldIsBounded(t *testing.T) {
	for _, c := range []struct{ name, limit string }{
		{"records", "max_rejected_held: 3"},
		{"bytes", "max_rejected_held_bytes: 1B"},
	} {
		t.Run(c.name, func(t *testing.T) { testRejectedHeld(t, c.limit) })
	}
}

func testRejectedHeld(t *testing.T, limit string) {
	b := newTestBuffer(t, "interval: 1h\n"+limit)
	ack := func(context.Context, error) error { return nil }
	bad := func(off int64) *service.Message { return kafkaMsg([]byte(`{"id_ordem":"x"}`), testTopic, 0, off) }
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{bad(0), bad(1), bad(2)}, ack))

	// The output fails: the three stay held, and the next batch waits.
	batch, deliver, err := b.ReadBatch(context.Background())
	require.NoError(t, err)
	require.Len(t, batch, 3)
	require.NoError(t, deliver(context.Background(), errors.New("DLQ down")))

	done := make(chan error, 1)
	go func() { done <- b.WriteBatch(context.Background(), service.MessageBatch{bad(3)}, ack) }()
	select {
	case err := <-done:
		t.Fatalf("counting went on with 3 rejected records held (%s): %v", limit, err)
	case <-time.After(300 * time.Millisecond):
	}

	// The output takes them (after the retry's back-off): counting goes on.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	batch, deliver, err = b.ReadBatch(ctx)
	require.NoError(t, err)
	require.Len(t, batch, 3, "the same three, none dropped")
	require.NoError(t, deliver(context.Background(), nil))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("counting did not go on once the output took the rejected records")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Equal(t, 1, len(b.ready)+b.inflight, "the fourth record is held now")
	assert.Equal(t, int64(4), b.parts[TopicPartition{testTopic, 0}].agg.rejected)
}
