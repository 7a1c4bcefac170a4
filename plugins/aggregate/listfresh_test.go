package aggregate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestListFresh: a topic that looks unknown for a moment (metadata the
// client stored before the topic was created) is listed once it is known;
// one that stays unknown past the window, and any error Kafka does not call
// retriable, is returned rather than waited for.
func TestListFresh(t *testing.T) {
	ctx := context.Background()
	unknown := kadm.ListedOffsets{"t": {0: {Topic: "t", Partition: 0, Err: kerr.UnknownTopicOrPartition}}}
	known := kadm.ListedOffsets{"t": {0: {Topic: "t", Partition: 0, Offset: 7}}}
	calls := 0
	flaky := func(context.Context, ...string) (kadm.ListedOffsets, error) {
		calls++
		if calls <= 2 {
			return unknown, nil
		}
		return known, nil
	}
	got, err := listFresh(ctx, flaky, "t", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, int64(7), got["t"][0].Offset)
	assert.Equal(t, 3, calls)

	calls = 0
	gone := func(context.Context, ...string) (kadm.ListedOffsets, error) { calls++; return unknown, nil }
	start := time.Now()
	_, err = listFresh(ctx, gone, "t", 200*time.Millisecond)
	assert.ErrorIs(t, err, kerr.UnknownTopicOrPartition)
	assert.Less(t, time.Since(start), 2*time.Second, "given up after the window")
	assert.Greater(t, calls, 1, "retried within the window")

	calls = 0
	denied := func(context.Context, ...string) (kadm.ListedOffsets, error) {
		calls++
		return nil, kerr.TopicAuthorizationFailed
	}
	_, err = listFresh(ctx, denied, "t", 2*time.Second)
	assert.ErrorIs(t, err, kerr.TopicAuthorizationFailed)
	assert.Equal(t, 1, calls, "not retriable: returned at once")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = listFresh(cctx, gone, "t", time.Minute)
	assert.True(t, errors.Is(err, kerr.UnknownTopicOrPartition), "a cancelled wait returns the last error")
}
