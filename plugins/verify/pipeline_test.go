package verify

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestOurConsumerAndItsDLQ runs produce.yaml with every fault class, then
// consume.yaml, both as the real binary, and verifies the consumer's
// snapshots and its DLQ against the producer's expected results.
func TestOurConsumerAndItsDLQ(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 6)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 6)
	expPath := filepath.Join(t.TempDir(), "esperado.json")
	produce := kafkatest.StartProcess(t, "produce.yaml", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "ORDERS_COUNT": "6000", "ORDERS_RATE": "0",
		"ORDERS_SEED": "21", "ORDERS_FAULT_RATE": "0.004", "ORDERS_EXPECTED": expPath,
		"PRODUCE_HTTP_ADDRESS": "127.0.0.1:0", "LOG_LEVEL": "WARN",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, produce.Wait(2*time.Minute), produce.Output())
	e, err := generator.ReadExpectedFile(expPath)
	require.NoError(t, err)
	require.True(t, e.Complete)
	for _, f := range generator.Faults() {
		require.Positive(t, e.Faults[f.String()], "the run injects %s", f)
	}

	consume := kafkatest.StartProcess(t, "consume.yaml", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "OUTPUT_FORMAT": "json",
		"KAFKA_CONSUMER_GROUP": topic, "AGGREGATE_INTERVAL": "200ms", "CONSUME_HTTP_ADDRESS": "127.0.0.1:0",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("consume.yaml"))
	_, _, err = consume.WaitSnapshot(time.Minute, 0, func(s kafkatest.Snapshot) bool {
		return s.Orders+s.Rejected == e.Records
	})
	require.NoError(t, err)
	require.NoError(t, consume.Stop(30*time.Second))
	snapshots := writeFile(t, "snapshots.jsonl", []byte(strings.Join(consume.Stdout(), "\n")))

	base := Options{ExpectedFiles: []string{expPath}, Actual: snapshots, Format: FormatAuto, Brokers: []string{brokers}, Timeout: time.Minute}

	once := base
	once.Duplicates = DupsOnce
	code, out := runVerify(t, once)
	assert.Equal(t, ExitDifferent, code, out)
	assert.Contains(t, out, "pedidos: expected "+strconv.FormatInt(e.Orders, 10)+", got "+strconv.FormatInt(e.Orders+e.Duplicates.Orders, 10))
	assert.Contains(t, out, "the differences are exactly the "+strconv.FormatInt(e.Duplicates.Orders, 10)+" duplicate copies")

	each := base
	each.Duplicates = DupsEach
	each.DLQTopic = topic + "_dlq"
	code, out = runVerify(t, each)
	assert.Equal(t, ExitEqual, code, out)
	for _, f := range generator.Faults() {
		if f.Rejected() {
			n := strconv.Itoa(e.Faults[f.String()])
			assert.Regexp(t, `(?m)^\s*`+f.String()+`\s+`+n+`\s+`+n+`\s*$`, out, "every %s record is in the DLQ with its label", f)
		}
	}
	t.Logf("verify --duplicates each --dlq-topic:\n%s", out)

	// The same snapshots on a topic.
	totals := kafkatest.CreateTopic(t, brokers, 1)
	kafkatest.Produce(t, brokers, totals, nil, [][]byte{[]byte(consume.Stdout()[len(consume.Stdout())-1])})
	fromTopic := each
	fromTopic.Actual, fromTopic.Topic, fromTopic.DLQTopic = "", totals, ""
	code, out = runVerify(t, fromTopic)
	assert.Equal(t, ExitEqual, code, out)

	// The label matches what the consumer says is wrong with the record.
	recs, err := readTopic(context.Background(), []string{brokers}, topic+"_dlq")
	require.NoError(t, err)
	field := map[string]string{
		"nao_json": "invalid JSON", "campo_ausente": "documento_cliente: missing", "tipo_errado": "quantidade",
		"quantidade_invalida": "quantidade: must be an integer from 1", "preco_invalido": "preco_unitario: must be greater than 0",
		"total_errado": "valor_total: is", "data_invalida": "data_hora_venda", "cpf_invalido": "documento_cliente",
		"grande_demais": "more than 1000 products", "caracteres_de_controle": "control character",
	}
	for _, r := range recs {
		label, reason := headerOf(r, generator.FaultHeader), headerOf(r, "sales_rejected_reason")
		assert.Contains(t, reason, field[label], "a %s record is rejected for it", label)
		for _, h := range r.Headers {
			assert.NotRegexp(t, `[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}`, string(h.Value), "no CPF in the DLQ's header %s", h.Key)
		}
	}

	// A DLQ that lost a class is reported by name.
	lossy := kafkatest.CreateTopic(t, brokers, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	require.NoError(t, err)
	defer cl.Close()
	for _, r := range recs {
		if headerOf(r, generator.FaultHeader) != "nao_json" {
			require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Topic: lossy, Key: r.Key, Value: r.Value, Headers: r.Headers}).FirstErr())
		}
	}
	missing := Options{ExpectedFiles: []string{expPath}, DLQTopic: lossy, Brokers: []string{brokers}, Timeout: time.Minute}
	code, out = runVerify(t, missing)
	assert.Equal(t, ExitDifferent, code, out)
	assert.Contains(t, out, "fault classes missing from the DLQ: nao_json ("+strconv.Itoa(e.Faults["nao_json"])+" of "+strconv.Itoa(e.Faults["nao_json"])+")")
}

func headerOf(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
