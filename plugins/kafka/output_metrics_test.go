package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// countingMetrics keeps the totals of every counter, by name and label values.
type countingMetrics struct {
	mu     sync.Mutex
	totals map[string]int64
}

type countingCounter struct {
	m   *countingMetrics
	key string
}

func (c countingCounter) Incr(n int64) {
	c.m.mu.Lock()
	c.m.totals[c.key] += n
	c.m.mu.Unlock()
}

type nopTimer struct{}

func (nopTimer) Timing(int64) {}

type nopGauge struct{}

func (nopGauge) Set(int64) {}

// NewCounterCtor keys a counter as name{topic} by its topic label, if any.
func (m *countingMetrics) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	topic := slices.Index(labelKeys, "topic")
	return func(labelValues ...string) service.MetricsExporterCounter {
		key := name
		if topic >= 0 {
			key += "{" + labelValues[topic] + "}"
		}
		return countingCounter{m, key}
	}
}

func (m *countingMetrics) NewTimerCtor(string, ...string) service.MetricsExporterTimerCtor {
	return func(...string) service.MetricsExporterTimer { return nopTimer{} }
}

func (m *countingMetrics) NewGaugeCtor(string, ...string) service.MetricsExporterGaugeCtor {
	return func(...string) service.MetricsExporterGauge { return nopGauge{} }
}

func (m *countingMetrics) Close(context.Context) error { return nil }

// TestOutputCountsPerTopic: kafka_produced_records and kafka_produced_bytes
// count every record written under its topic, also when the topics of one
// batch alternate (they are counted per run of one topic).
func TestOutputCountsPerTopic(t *testing.T) {
	brokers := testBrokers(t)
	a, b := createTopic(t, brokers, 1), createTopic(t, brokers, 1)
	counts := &countingMetrics{totals: map[string]int64{}}
	env := service.NewEnvironment()
	require.NoError(t, env.RegisterMetricsExporter("counting", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Logger) (service.MetricsExporter, error) { return counts, nil }))
	sb := env.NewStreamBuilder()
	// Topics a a b a b b a in one batch of 7, seven times; values "v<i>".
	require.NoError(t, sb.SetYAML(fmt.Sprintf(`
input:
  generate:
    count: 49
    interval: ""
    batch_size: 7
    mapping: |
      root = "v" + counter().string()
      meta t = if [0, 1, 3, 6].contains((counter() - 1) %% 7) { %q } else { %q }
output:
  kafka_franz:
    seed_brokers: [ %q ]
    topic: ${! @t }
metrics:
  counting: {}
logger:
  level: NONE
`, a, b, brokers)))
	stream, err := sb.Build()
	require.NoError(t, err)
	require.NoError(t, stream.Run(t.Context()))

	counts.mu.Lock()
	defer counts.mu.Unlock()
	assert.EqualValues(t, 28, counts.totals["kafka_produced_records{"+a+"}"])
	assert.EqualValues(t, 21, counts.totals["kafka_produced_records{"+b+"}"])
	// Values v1..v49 without keys: 9 of one digit and 40 of two, plus "v".
	wantBytes := map[string]int64{}
	for i := 1; i <= 49; i++ {
		topic := b
		if j := (i - 1) % 7; j == 0 || j == 1 || j == 3 || j == 6 {
			topic = a
		}
		wantBytes[topic] += int64(len(fmt.Sprintf("v%d", i)))
	}
	assert.Equal(t, wantBytes[a], counts.totals["kafka_produced_bytes{"+a+"}"])
	assert.Equal(t, wantBytes[b], counts.totals["kafka_produced_bytes{"+b+"}"])
}
