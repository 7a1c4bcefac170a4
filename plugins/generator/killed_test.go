package generator

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestExpectedResultsSurviveKill9 runs produce.yaml as the real binary,
// kills it with SIGKILL while it sends, and restarts it with the same seed
// at the seq after the last one its expected results file names. The final
// file covers every order once, equals what seed and range alone give, and
// equals an independent sum of the topic with each id_ordem counted once
// (the restart sends again the orders acknowledged after the last write).
func TestExpectedResultsSurviveKill9(t *testing.T) {
	t.Parallel()
	const count = 40000
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	path := filepath.Join(t.TempDir(), "esperado.json")
	env := map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "ORDERS_SEED": "77",
		"ORDERS_COUNT": strconv.Itoa(count), "ORDERS_EXPECTED": path,
		"ORDERS_FAULT_RATE": "0.002", "PRODUCE_HTTP_ADDRESS": "127.0.0.1:0", "LOG_LEVEL": "WARN",
	}
	args := []string{"-c", kafkatest.ConfigPath("produce.yaml"), "--set", "input.sales_orders.expected.interval=50ms"}

	env["ORDERS_RATE"] = "2000" // 20s for every order: killed well before
	first := kafkatest.StartProcess(t, "produce.yaml (killed)", env, kafkatest.Binary(t), args...)
	var killedAt Expected
	require.Eventually(t, func() bool {
		e, err := ReadExpectedFile(path)
		killedAt = e
		return err == nil && e.Last >= 3000
	}, time.Minute, 20*time.Millisecond, "the expected results never reached seq 3000:\n%s", first.Output())
	first.Kill()
	killedAt, err := ReadExpectedFile(path)
	require.NoError(t, err, "the file is whole after kill -9")
	require.False(t, killedAt.Complete)
	require.Less(t, killedAt.Last, uint64(count), "killed before the end")

	env["ORDERS_RATE"] = "0"
	env["ORDERS_START_SEQ"] = strconv.FormatUint(killedAt.Last+1, 10)
	second := kafkatest.StartProcess(t, "produce.yaml (restarted)", env, kafkatest.Binary(t), args...)
	require.NoError(t, second.Wait(2*time.Minute), "the restart ends by itself:\n%s", second.Output())

	got, err := ReadExpectedFile(path)
	require.NoError(t, err)
	assert.True(t, got.Complete)
	assert.Equal(t, uint64(1), got.First)
	assert.Equal(t, uint64(count), got.Last)

	want, err := ComputeExpected(testYAMLOptions(t, `{ seed: "77", fault_rate: 0.002 }`), 1, count)
	require.NoError(t, err)
	want.At, want.Complete = got.At, true
	assert.Equal(t, want, got, "the file is what seed and range alone give")

	ends, err := kafkatest.Admin(t, brokers).ListEndOffsets(context.Background(), topic)
	require.NoError(t, err)
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var recs []record
	for _, r := range kafkatest.ReadTopic(t, brokers, topic, int(total)) {
		recs = append(recs, record{value: r.Value, id: string(r.Key)})
	}
	assert.GreaterOrEqual(t, int64(len(recs)), got.Records, "every record is in the topic, some twice")
	assertExpectedIs(t, sumOnce(t, recs), got)
	t.Logf("killed at ultimo_seq %d; the topic holds %d records for %d orders", killedAt.Last, len(recs), count)
}
