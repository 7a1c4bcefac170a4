package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestPipeline runs the components the way users do: a YAML stream generating
// orders into kafka_franz, and a stream consuming them with kafka_franz. The
// broker list comes from ${KAFKA_BROKERS} holding comma separated addresses.
func TestPipeline(t *testing.T) {
	const n = 2000
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)
	env := func(name string) (string, bool) {
		switch name {
		case "KAFKA_BROKERS":
			// The same address twice exercises the comma expansion.
			return brokers + "," + brokers, true
		case "KAFKA_TOPIC":
			return topic, true
		}
		return "", false
	}

	prod := service.NewStreamBuilder()
	prod.SetEnvVarLookupFunc(env)
	require.NoError(t, prod.SetYAML(fmt.Sprintf(`
input:
  generate:
    count: %d
    interval: ""
    mapping: |
      root.id_ordem = "order-%%06d".format(count("${KAFKA_TOPIC}"))
      root.valor_total = 10
output:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS}" ]
    topic: ${KAFKA_TOPIC}
    key: ${! json("id_ordem") }
    compression: snappy
    max_in_flight: 4
    batching:
      count: 100
      period: 10ms
logger:
  level: warn
`, n)))
	stream, err := prod.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, stream.Run(ctx), "the producing stream ends once every order is acknowledged")

	// What users care about: the orders are on the topic, keyed by id.
	recs := readTopic(t, brokers, topic, n)
	ids := map[string]bool{}
	for _, r := range recs {
		var order struct {
			ID string `json:"id_ordem"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &order))
		assert.Equal(t, order.ID, string(r.Key))
		ids[order.ID] = true
	}
	require.Len(t, ids, n)
	for i := 1; i <= n; i++ {
		assert.True(t, ids[fmt.Sprintf("order-%06d", i)], "order %d missing", i)
	}

	// And the consuming side reads them all with their Kafka position.
	cons := service.NewStreamBuilder()
	cons.SetEnvVarLookupFunc(env)
	require.NoError(t, cons.SetLoggerYAML("level: warn"))
	require.NoError(t, cons.AddInputYAML(`
kafka_franz:
  seed_brokers: [ "${KAFKA_BROKERS}" ]
  topics: [ "${KAFKA_TOPIC}" ]
  consumer_group: pipeline_${KAFKA_TOPIC}
  commit_period: 100ms
`))
	require.NoError(t, cons.AddProcessorYAML(`
mapping: |
  root = this
  root.pos = "%s/%v/%v".format(@kafka_topic, @kafka_partition, @kafka_offset)
  root.key = @kafka_key
`))
	var mu sync.Mutex
	got := map[string]string{}
	positions := map[string]bool{}
	all := make(chan struct{})
	require.NoError(t, cons.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		var v struct {
			ID  string `json:"id_ordem"`
			Pos string `json:"pos"`
			Key string `json:"key"`
		}
		b, err := m.AsBytes()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		got[v.ID] = v.Key
		positions[v.Pos] = true
		if len(got) == n {
			close(all)
		}
		return nil
	}))
	cstream, err := cons.Build()
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- cstream.Run(ctx) }()

	select {
	case <-all:
	case err := <-runErr:
		t.Fatalf("consuming stream stopped early: %v", err)
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("consumed %d of %d orders before the deadline", len(got), n)
	}
	require.NoError(t, cstream.Stop(ctx))

	mu.Lock()
	defer mu.Unlock()
	for id, key := range got {
		assert.Equal(t, id, key, "kafka_key metadata")
	}
	assert.GreaterOrEqual(t, len(positions), n, "every record has its own topic/partition/offset")
}
