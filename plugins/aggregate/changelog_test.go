package aggregate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// TestOwnStatesAreNotParsedAgain: a member reads back the states it wrote
// without parsing them, and ends with the same states as a member that
// parsed them; what another member wrote is parsed.
func TestOwnStatesAreNotParsedAgain(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	name := "state_" + strings.ReplaceAll(t.Name(), "/", "_") + "_" + time.Now().Format("150405.000000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() *changelog {
		c, err := openChangelog(ctx, []kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, name, 2,
			service.MockResources().Logger(), func(*partitionState, bool) {})
		require.NoError(t, err)
		t.Cleanup(c.close)
		return c
	}
	state := func(p int32, next int64, writer string) *partitionState {
		return &partitionState{
			Topic: "vendas", TopicID: [16]byte{7}, Partition: p, Next: next, DLQFrom: next - 1,
			Orders: next, Rejected: 1, Writer: writer, WrittenAt: time.Now(),
			Products: []ProductTotals{{Name: "Mouse \"sem fio\"", Units: 3, Orders: 2, Value: order.Cents(12345)}},
			Since:    []int64{4},
		}
	}
	a := open()
	written := []*partitionState{state(0, 10, "a/1"), state(1, 20, "a/1"), state(2, 30, "a/1")}
	require.NoError(t, a.write(ctx, written))
	require.NoError(t, a.write(ctx, []*partitionState{state(0, 11, "a/1")}))
	require.NoError(t, a.caughtUp(ctx))

	b := open()
	require.NoError(t, b.caughtUp(ctx))
	a.mu.Lock()
	aParsed, aPending := a.parsed, len(a.written)
	a.mu.Unlock()
	assert.Zero(t, aParsed, "the writer parsed its own states")
	assert.Zero(t, aPending, "written states are forgotten once read back")
	b.mu.Lock()
	assert.Equal(t, int64(4), b.parsed, "another member parses every state")
	b.mu.Unlock()
	for p := int32(0); p < 3; p++ {
		tp := TopicPartition{"vendas", p}
		sa, sb := a.state(tp), b.state(tp)
		require.NotNil(t, sa)
		require.NotNil(t, sb)
		assert.Equal(t, sb.Next, sa.Next)
		assert.Equal(t, sb.DLQFrom, sa.DLQFrom)
		assert.Equal(t, sb.Orders, sa.Orders)
		assert.Equal(t, sb.Products, sa.Products)
		assert.Equal(t, sb.Since, sa.Since)
		assert.Equal(t, sb.TopicID, sa.TopicID)
	}
	assert.Equal(t, int64(11), a.state(TopicPartition{"vendas", 0}).Next)

	require.NoError(t, b.write(ctx, []*partitionState{state(1, 25, "b/2")}))
	require.NoError(t, a.caughtUp(ctx))
	a.mu.Lock()
	assert.Equal(t, int64(1), a.parsed, "a state another member wrote is parsed")
	a.mu.Unlock()
	assert.Equal(t, int64(25), a.state(TopicPartition{"vendas", 1}).Next)
}
