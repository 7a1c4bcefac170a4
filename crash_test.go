package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// How a crash test stops the consumer.
type stopKind string

const (
	// killEvict is kill -9, then the crashed member is removed from the
	// group as its session timeout would (see evictGroupMembers).
	killEvict stopKind = "kill -9"
	// killWaitSession is kill -9 and nothing else: the next consumer waits
	// for the group coordinator to expire the crashed member (45s).
	killWaitSession stopKind = "kill -9, session expires"
	// sigint is Ctrl-C: a graceful stop that must end with status 0.
	sigint stopKind = "SIGINT"
)

type stopAt struct {
	progress float64 // fraction of the orders in the totals before stopping
	how      stopKind
}

// TestConsumerCrashRecovery is issue 4, on the state kept in Kafka (issue
// 9): config/consume.yaml reads a topic of generated orders plus six invalid
// records, is stopped (kill -9 mostly) at several points of its progress and
// started again each time; the last snapshot must count every order exactly
// once — pedidos, and each product's quantidade, pedidos and valor_total to
// the centavo, against an independent sum over kcat's copy of the topic —
// reject the six records, and the six must be in <topic>_dlq with the
// reason naming the field.
func TestConsumerCrashRecovery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		orders int
		seed   string
		stops  []stopAt
	}{
		{
			// The acceptance scenario of issue 4.
			name: "acceptance 100k orders, kill -9 three times", orders: 100_000, seed: "4",
			stops: []stopAt{{0.2, killEvict}, {0.5, killEvict}, {0.8, killEvict}},
		},
		{
			// Graceful and crash restarts mixed, one crash recovered the slow
			// way, as it happens in production.
			name: "200k orders, kill -9 and SIGINT", orders: 200_000, seed: "200",
			stops: []stopAt{{0.2, killEvict}, {0.4, sigint}, {0.6, killWaitSession}, {0.8, killEvict}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			brokers := kafkatest.Brokers(t)
			topic := kafkatest.CreateTopic(t, brokers, 6)
			kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
			group := "crash-" + topic

			bad := badRecords()
			produceBad(t, brokers, topic, bad[:3])
			produceOrders(t, brokers, topic, tc.orders, tc.seed)
			produceBad(t, brokers, topic, bad[3:])
			total := int64(tc.orders)

			env := consumeEnv(brokers, topic, group)
			midway := 0
			for i, st := range tc.stops {
				start := time.Now()
				p := startConfig(t, fmt.Sprintf("consume run %d", i+1), kafkatest.ConfigPath("consume.yaml"), env)
				// A run after a kill without eviction first waits out the
				// crashed member's session.
				s, _, err := p.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool {
					return float64(s.Orders) >= st.progress*float64(total)
				})
				require.NoError(t, err)
				switch st.how {
				case killEvict:
					p.Kill()
					evictGroupMembers(t, brokers, group)
				case killWaitSession:
					p.Kill()
				case sigint:
					require.NoError(t, p.Stop(30*time.Second), "a graceful stop ends with status 0")
				}
				if s.Orders < total {
					midway++
				}
				t.Logf("run %d: %s at pedidos=%d (%.0f%%) after %s", i+1, st.how, s.Orders, 100*float64(s.Orders)/float64(total), time.Since(start).Round(time.Millisecond))
			}
			require.Positive(t, midway, "at least one stop must come before the end of the topic")

			start := time.Now()
			p := startConfig(t, "consume last run", kafkatest.ConfigPath("consume.yaml"), env)
			final, _, err := p.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool {
				return s.Orders >= total && s.Rejected >= int64(len(bad))
			})
			require.NoError(t, err)
			t.Logf("last run: pedidos=%d rejeitados=%d after %s", final.Orders, final.Rejected, time.Since(start).Round(time.Millisecond))
			assert.Equal(t, total, final.Orders, "pedidos: every order once")
			assert.Equal(t, int64(len(bad)), final.Rejected, "rejeitados: the six invalid records once")

			recs := readIndependently(t, brokers, topic, tc.orders+len(bad))
			require.Len(t, recs, tc.orders+len(bad), "records on %s", topic)
			want := independentSum(t, recs)
			require.Equal(t, total, want.Orders)
			assertTotals(t, want, final)
			assertOffsetsComplete(t, brokers, topic, final)
			assertDLQ(t, brokers, topic, bad)

			require.NoError(t, p.Stop(30*time.Second), "a graceful stop ends with status 0")
			last, ok := p.LastSnapshot()
			require.True(t, ok)
			assertTotals(t, want, last)
		})
	}
}

// TestBadRecordsDifferByOneDefect keeps the crash test's invalid records
// honest: the template they break is a valid order, and each is not.
func TestBadRecordsDifferByOneDefect(t *testing.T) {
	_, err := order.Decode(fmt.Appendf(nil, validTemplate, "ok"))
	require.NoError(t, err, "the template is a valid order")
	for _, b := range badRecords() {
		_, err := order.Decode([]byte(b.value))
		assert.Error(t, err, "%s must be invalid: %s", b.key, b.value)
	}
}
