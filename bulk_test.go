package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestInputProcessorsAndBulk: consume.yaml hands sales_aggregate records in
// bulk. An input processor that rewrites messages would make the records
// counted differ from the messages it wrote: the consumer stops with exit 3
// and names the way out (bulk: false), which then counts every order once,
// through the processor.
func TestInputProcessorsAndBulk(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 2)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	const n = 2000
	produceOrders(t, brokers, topic, n, "5")
	config := kafkatest.ConfigPath("consume.yaml")
	mapping := `input.processors=[{"mapping":"root = this"}]`

	env := consumeEnv(brokers, topic, "bulk-"+topic)
	p := kafkatest.StartProcess(t, "consume-bulk", env, kafkatest.Binary(t), "run", "-s", mapping, config)
	err := p.Wait(60 * time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Contains(t, p.Stderr(), "set kafka_franz's bulk: false")
	if s, ok := p.LastSnapshot(); ok {
		assert.Zero(t, s.Orders, "nothing is counted from rewritten messages")
	}

	p = kafkatest.StartProcess(t, "consume-per-record", env, kafkatest.Binary(t), "run", "-s", mapping,
		"-s", "input.kafka_franz.bulk=false", config)
	s, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= n })
	require.NoError(t, err)
	want := independentSum(t, readIndependently(t, brokers, topic, n))
	assertTotals(t, want, s)
	assert.Zero(t, s.Rejected)
	require.NoError(t, p.Stop(30*time.Second))
}
