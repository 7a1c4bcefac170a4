package generator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryBackoffGrows(t *testing.T) {
	var got []time.Duration
	for f := 1; f <= 8; f++ {
		got = append(got, retryBackoff(f))
	}
	s := time.Second
	assert.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}, got)
}

// TestRefusedBatchesBackOffTogether: batches the output refuses come back
// after one shared back-off, not in a busy loop, and the warning about them
// is logged once, not once per refusal.
func TestRefusedBatchesBackOffTogether(t *testing.T) {
	h := newStopHarness(t)
	in := h.input(t, "count: 30\nrate: 0\nbatch_size: 10\n")
	acks := []func(context.Context, error) error{read(t, in), read(t, in), read(t, in)}
	refused := errors.New("broker away")
	start := time.Now()
	for _, ack := range acks {
		require.NoError(t, ack(context.Background(), refused))
	}
	for range 3 {
		ack := read(t, in)
		defer func() { _ = ack(context.Background(), nil) }()
	}
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, retryInitial, "refused batches wait before they go again")
	assert.Less(t, took, 2*retryInitial, "and they wait together, not one after another")
	assert.Equal(t, 1, strings.Count(h.log.String(), "orders not delivered, sending them again"), h.log.String())
}
