package config_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/vendas-connect/vendas-connect/config"
	_ "github.com/vendas-connect/vendas-connect/plugins/aggregate"
	_ "github.com/vendas-connect/vendas-connect/plugins/generator"
	_ "github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func envFunc(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func build(t *testing.T, name string, env map[string]string) *service.Stream {
	t.Helper()
	yaml, err := config.Files.ReadFile(name)
	require.NoError(t, err)
	sb := service.NewStreamBuilder()
	sb.SetEnvVarLookupFunc(envFunc(env))
	require.NoError(t, sb.SetYAML(string(yaml)), "%s does not lint", name)
	stream, err := sb.Build()
	require.NoError(t, err)
	return stream
}

// TestEveryConfigLints lints every shipped config with its defaults, as a
// user who sets no variable runs it.
func TestEveryConfigLints(t *testing.T) {
	names, err := fs.Glob(config.Files, "*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(names), 3)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { build(t, name, nil) })
	}
	// The embedded copies are the files on disk.
	for _, name := range names {
		disk, err := os.ReadFile(name)
		require.NoError(t, err)
		embedded, _ := config.Files.ReadFile(name)
		assert.Equal(t, string(disk), string(embedded))
	}
}

func TestBloblangBaselineRuns(t *testing.T) {
	stream := build(t, "bloblang_baseline.yaml", map[string]string{"ORDERS_COUNT": "50"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
}

// TestConfigsLeaveLogsAndMetricsToTheBinary: vendas-connect logs to stderr
// and serves Prometheus metrics by default; a shipped config that named a
// log file or another metrics exporter would undo that (docs/CONTRACT.md).
func TestConfigsLeaveLogsAndMetricsToTheBinary(t *testing.T) {
	names, err := fs.Glob(config.Files, "*.yaml")
	require.NoError(t, err)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := config.Files.ReadFile(name)
			require.NoError(t, err)
			var conf struct {
				Logger  map[string]any `yaml:"logger"`
				Metrics map[string]any `yaml:"metrics"`
			}
			require.NoError(t, yaml.Unmarshal(data, &conf))
			assert.NotContains(t, conf.Logger, "file", "logs go to stderr, not to a file")
			for k := range conf.Metrics {
				assert.Contains(t, []string{"prometheus", "mapping"}, k, "metrics stay Prometheus")
			}
		})
	}
}

// TestContractNamesEveryVariable: docs/CONTRACT.md lists every environment
// variable the shipped pipeline configs read, with the default they use.
func TestContractNamesEveryVariable(t *testing.T) {
	contract, err := os.ReadFile(filepath.Join("..", "docs", "CONTRACT.md"))
	require.NoError(t, err, "the contract is in the repository")
	// Not part of the contract: set by demo, or read by the benchmark only.
	internal := map[string]bool{"REPORT_CLEAR_SCREEN": true, "HTTP_ADDRESS": true}
	ref := regexp.MustCompile(`\$\{([A-Z_]+):([^}]*)\}`)
	for _, name := range []string{"produce.yaml", "consume.yaml"} {
		data, err := config.Files.ReadFile(name)
		require.NoError(t, err)
		for _, m := range ref.FindAllStringSubmatch(string(data), -1) {
			if internal[m[1]] {
				continue
			}
			assert.Contains(t, string(contract), "`"+m[1]+"`", "%s reads %s", name, m[1])
			if m[2] != "" {
				assert.Contains(t, string(contract), "`"+m[2]+"`", "%s: the default of %s", name, m[1])
			}
		}
	}
}

// TestProduceThenConsume runs produce.yaml, then consume.yaml as the real
// binary, and checks the topic and the final totals.
func TestProduceThenConsume(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 6)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 6)
	const n = 3000
	env := map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic,
		"ORDERS_COUNT": strconv.Itoa(n), "ORDERS_RATE": "0", "ORDERS_SEED": "11", "LOG_LEVEL": "WARN",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, build(t, "produce.yaml", env).Run(ctx), "produce.yaml ends by itself after ORDERS_COUNT")

	recs := kafkatest.ReadTopic(t, brokers, topic, n)
	values := make([][]byte, 0, n)
	partitions := map[int32]bool{}
	for _, r := range recs {
		o, err := order.Decode(r.Value)
		require.NoError(t, err)
		assert.Equal(t, o.ID, string(r.Key), "key is id_ordem")
		partitions[r.Partition] = true
		values = append(values, r.Value)
	}
	assert.Len(t, partitions, 6, "orders spread over every partition")
	want, err := kafkatest.SumOrders(values)
	require.NoError(t, err)

	// One malformed record: counted as rejected and sent to the DLQ.
	kafkatest.Produce(t, brokers, topic, [][]byte{[]byte("bad-1")}, [][]byte{[]byte(`{"id_ordem":"x"`)})

	consume := kafkatest.StartProcess(t, "consume.yaml", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "OUTPUT_FORMAT": "json",
		"KAFKA_CONSUMER_GROUP": topic, "AGGREGATE_INTERVAL": "200ms", "CONSUME_HTTP_ADDRESS": "127.0.0.1:0",
	}, kafkatest.Binary(t), "-c", "consume.yaml")
	_, _, err = consume.WaitSnapshot(time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders == n && s.Rejected == 1 })
	require.NoError(t, err)
	require.NoError(t, consume.Stop(30*time.Second), "consume.yaml stops cleanly on SIGINT")
	last, ok := consume.LastSnapshot()
	require.True(t, ok)
	require.Equal(t, int64(n), last.Orders, "the last snapshot covers every order")
	assert.Equal(t, int64(1), last.Rejected)
	assert.Equal(t, want.Products, last.Products)

	dlq := kafkatest.ReadTopic(t, brokers, topic+"_dlq", 1)
	assert.Equal(t, `{"id_ordem":"x"`, string(dlq[0].Value))
	reason := ""
	for _, h := range dlq[0].Headers {
		if h.Key == "sales_rejected_reason" {
			reason = string(h.Value)
		}
	}
	assert.Contains(t, reason, "invalid JSON")
}
