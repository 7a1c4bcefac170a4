package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gopkg.in/yaml.v3"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// Helpers of the end-to-end tests: they run the real binary with the shipped
// configs and check what users see (the snapshots, the topics) against
// independent readers (kcat) and an independent sum (kafkatest.SumOrders).

// snapshotInterval makes the consumer print often, so a test can stop it at
// a chosen point of its progress.
const snapshotInterval = "20ms"

// produceEnv is the environment of config/produce.yaml.
func produceEnv(brokers, topic string, count int, rate, seed string) map[string]string {
	return map[string]string{
		"KAFKA_BROKERS":        brokers,
		"KAFKA_TOPIC":          topic,
		"ORDERS_COUNT":         fmt.Sprint(count),
		"ORDERS_RATE":          rate,
		"ORDERS_SEED":          seed,
		"PRODUCE_HTTP_ADDRESS": "127.0.0.1:0", // tests run side by side
		"LOG_LEVEL":            "INFO",
	}
}

// consumeEnv is the environment of config/consume.yaml, JSON snapshots. The
// state lives in <topic>_totais; group is the consumer group (the tests use
// one per topic, since they share a broker).
func consumeEnv(brokers, topic, group string) map[string]string {
	return map[string]string{
		"KAFKA_BROKERS":        brokers,
		"KAFKA_TOPIC":          topic,
		"KAFKA_CONSUMER_GROUP": group,
		"OUTPUT_FORMAT":        "json",
		"AGGREGATE_INTERVAL":   snapshotInterval,
		"CONSUME_HTTP_ADDRESS": "127.0.0.1:0",
		"LOG_LEVEL":            "WARN",
	}
}

// waitOwnsAll waits for a snapshot of cons listing n partitions, each with
// an owner (dono): the consumer has joined its group and been assigned them.
func waitOwnsAll(t *testing.T, cons *kafkatest.Process, n int) {
	t.Helper()
	_, _, err := cons.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool {
		var doc struct {
			Particoes []struct {
				Dono string `json:"dono"`
			} `json:"particoes"`
		}
		if json.Unmarshal([]byte(s.Line), &doc) != nil || len(doc.Particoes) != n {
			return false
		}
		for _, p := range doc.Particoes {
			if p.Dono == "" {
				return false
			}
		}
		return true
	})
	require.NoError(t, err, "the consumer did not own the %d partitions", n)
}

// startConfig runs vendas-connect -c config.
func startConfig(t *testing.T, name, config string, env map[string]string) *kafkatest.Process {
	t.Helper()
	return kafkatest.StartProcess(t, name, env, kafkatest.Binary(t), "-c", config)
}

// produceOrders runs config/produce.yaml with a count and waits for it to
// end by itself, as it must once every order is acknowledged.
func produceOrders(t *testing.T, brokers, topic string, count int, seed string) {
	t.Helper()
	start := time.Now()
	p := startConfig(t, "produce", kafkatest.ConfigPath("produce.yaml"), produceEnv(brokers, topic, count, "0", seed))
	require.NoError(t, p.Wait(3*time.Minute), "produce.yaml with ORDERS_COUNT=%d must end by itself with status 0", count)
	t.Logf("produced %d orders into %s in %s", count, topic, time.Since(start).Round(time.Millisecond))
}

// badRecord is an invalid record of one class and the field its rejection
// reason must name.
type badRecord struct {
	key, value, field string
}

// validTemplate is a valid order (asserted by TestBadRecordsDifferByOneDefect);
// every bad record breaks it in exactly one place.
const validTemplate = `{"id_ordem":"%s","documento_cliente":"529.982.247-25","produtos":[{"nome":"Mouse Sem Fio Logitech M170","quantidade":2,"preco_unitario":59.90}],"valor_total":119.80,"data_hora_venda":"24/11/2026 18:03:59"}`

// badRecords are six invalid records, one per class of CONTRACT.md's rules.
func badRecords() []badRecord {
	valid := func(key string) string { return fmt.Sprintf(validTemplate, key) }
	mk := func(key, field, old, repl string) badRecord {
		return badRecord{key: key, field: field, value: strings.Replace(valid(key), old, repl, 1)}
	}
	return []badRecord{
		{key: "bad-not-json", field: "JSON", value: valid("bad-not-json")[:60]},
		mk("bad-missing-date", "data_hora_venda", `,"data_hora_venda":"24/11/2026 18:03:59"`, ""),
		mk("bad-quantity-zero", "produtos[0].quantidade", `"quantidade":2`, `"quantidade":0`),
		mk("bad-price-zero", "produtos[0].preco_unitario", `"preco_unitario":59.90`, `"preco_unitario":0`),
		mk("bad-total", "valor_total", `"valor_total":119.80`, `"valor_total":119.81`),
		mk("bad-cpf", "documento_cliente", `529.982.247-25`, `529.982.247-24`),
	}
}

func isBadKey(key []byte) bool { return bytes.HasPrefix(key, []byte("bad-")) }

func produceBad(t *testing.T, brokers, topic string, recs []badRecord) {
	t.Helper()
	keys := make([][]byte, len(recs))
	values := make([][]byte, len(recs))
	for i, r := range recs {
		keys[i], values[i] = []byte(r.key), []byte(r.value)
	}
	kafkatest.Produce(t, brokers, topic, keys, values)
}

// readIndependently reads every record of topic with kcat; without kcat,
// and only outside CI, with a plain franz-go client (n records).
func readIndependently(t *testing.T, brokers, topic string, n int) []kafkatest.Record {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err == nil || os.Getenv(kafkatest.RequireEnv) != "" {
		return kafkatest.Kcat(t, brokers, topic)
	}
	t.Logf("kcat not installed: reading %s with franz-go instead", topic)
	var out []kafkatest.Record
	for _, r := range kafkatest.ReadTopic(t, brokers, topic, n) {
		out = append(out, kafkatest.Record{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	}
	return out
}

// independentSum totals the valid orders of recs, leaving out the bad records
// (SumOrders checks arithmetic only, not CPFs, dates or missing fields).
func independentSum(t *testing.T, recs []kafkatest.Record) kafkatest.Sum {
	t.Helper()
	values := make([][]byte, 0, len(recs))
	for _, r := range recs {
		if !isBadKey(r.Key) {
			values = append(values, r.Value)
		}
	}
	sum, err := kafkatest.SumOrders(values)
	require.NoError(t, err)
	require.Zero(t, sum.Rejected, "the generated orders are all valid")
	return sum
}

// assertTotals compares a snapshot with the independent sum, product by
// product: units, orders and value in centavos.
func assertTotals(t *testing.T, want kafkatest.Sum, got kafkatest.Snapshot) {
	t.Helper()
	assert.Equal(t, want.Orders, got.Orders, "pedidos")
	assert.Equal(t, len(want.Products), len(got.Products), "number of products")
	assert.Equal(t, want.Products, got.Products, "per product: Units=quantidade, Orders=pedidos, Cents=valor_total")
}

// endOffsets is partition → high watermark of topic.
func endOffsets(t *testing.T, brokers, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kafkatest.Admin(t, brokers).ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, ends.Error())
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// assertOffsetsComplete checks that a snapshot's offsets reach the last
// record of every non-empty partition of topic.
func assertOffsetsComplete(t *testing.T, brokers, topic string, s kafkatest.Snapshot) {
	t.Helper()
	want := map[string]int64{}
	for p, end := range endOffsets(t, brokers, topic) {
		if end > 0 {
			want[fmt.Sprint(p)] = end - 1
		}
	}
	assert.Equal(t, want, s.Offsets[topic], "snapshot offsets = last offset of every partition")
}

// readAll reads topic up to its current end with franz-go, headers included.
func readAll(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	ends := endOffsets(t, brokers, topic)
	var total int64
	for _, e := range ends {
		total += e
	}
	if total == 0 {
		return nil
	}
	return kafkatest.ReadTopic(t, brokers, topic, int(total))
}

// assertDLQ checks that every bad record reached <topic>_dlq (at least once:
// a crash may deliver one again) with sales_rejected_reason naming its field,
// and that nothing else did.
func assertDLQ(t *testing.T, brokers, topic string, bad []badRecord) {
	t.Helper()
	// rejeitados counts a record before its delivery to the DLQ is acknowledged.
	var dlq []*kgo.Record
	deadline := time.After(30 * time.Second)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		dlq = readAll(t, brokers, topic+"_dlq")
		keys := map[string]bool{}
		for _, r := range dlq {
			keys[string(r.Key)] = true
		}
		if len(keys) >= len(bad) {
			break
		}
		select {
		case <-poll.C:
		case <-deadline:
			break wait
		}
	}
	seen := map[string]int{}
	for _, r := range dlq {
		key := string(r.Key)
		headers := map[string]string{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		var want *badRecord
		for i := range bad {
			if bad[i].key == key {
				want = &bad[i]
			}
		}
		if !assert.NotNil(t, want, "unexpected record in the DLQ: key %q value %.100q", key, r.Value) {
			continue
		}
		seen[key]++
		assert.Equal(t, want.value, string(r.Value), "DLQ keeps the original bytes")
		assert.Contains(t, strings.ToLower(headers["sales_rejected_reason"]), strings.ToLower(want.field),
			"%s: header sales_rejected_reason names the field", key)
		assert.Equal(t, topic, headers["kafka_topic"], "%s: kafka_topic header", key)
	}
	for _, b := range bad {
		assert.GreaterOrEqual(t, seen[b.key], 1, "%s is in %s_dlq", b.key, topic)
	}
	t.Logf("%s_dlq: %d records for %d bad ones", topic, len(dlq), len(bad))
}

// evictGroupMembers removes every member of a consumer group, as the group
// coordinator does once a crashed member's session times out. kafka_franz
// has no session_timeout field, so that would be franz-go's 45s default for
// each crash; evicting keeps a crash test fast and otherwise the same.
func evictGroupMembers(t *testing.T, brokers, group string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	described, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	require.NoError(t, err)
	g, ok := described[group]
	if !ok || len(g.Members) == 0 {
		return 0
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for _, m := range g.Members {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m.MemberID
		req.Members = append(req.Members, lm)
	}
	resp, err := req.RequestWith(ctx, cl)
	require.NoError(t, err)
	for _, m := range resp.Members {
		if m.ErrorCode != 0 {
			t.Logf("evicting %s from %s: error code %d", m.MemberID, group, m.ErrorCode)
		}
	}
	return len(g.Members)
}

// generatedIDs runs the sales_orders input of config/produce.yaml in this
// process with the given count and seed and returns the ids, in order: what
// the binary must have written. (ids do not depend on the rate.)
func generatedIDs(t *testing.T, count int, seed string) []string {
	t.Helper()
	raw, err := os.ReadFile(kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, err)
	var conf struct {
		Input struct {
			SalesOrders map[string]any `yaml:"sales_orders"`
		} `yaml:"input"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &conf))
	in := conf.Input.SalesOrders
	require.NotNil(t, in, "produce.yaml has a sales_orders input")
	in["count"], in["rate"], in["seed"] = count, 0, seed
	delete(in, "progress_interval")
	inYAML, err := yaml.Marshal(map[string]any{"sales_orders": in})
	require.NoError(t, err)

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddInputYAML(string(inYAML)))
	var mu sync.Mutex
	ids := make([]string, 0, count)
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			id, ok := m.MetaGetMut("id_ordem")
			if !ok {
				return errors.New("order without id_ordem metadata")
			}
			ids = append(ids, fmt.Sprint(id))
		}
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
	require.Len(t, ids, count)
	return ids
}

// privateKafka is a real Kafka of the test's own, started with .ci/kafka in
// a state dir of the test, so killing and restarting it leaves the broker
// other packages' tests use (CI's, from KAFKA_BROKERS) alone.
type privateKafka struct {
	script   string
	stateDir string
	env      map[string]string // the KEY=VALUE lines of start
	startOut string
}

func startPrivateKafka(t *testing.T) *privateKafka {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(".ci", "kafka"))
	require.NoError(t, err)
	k := &privateKafka{script: script, stateDir: filepath.Join(t.TempDir(), "kafka")}
	start := time.Now()
	out, err := k.run("start")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := k.run("logs", "60")
			t.Logf("private Kafka log tail:\n%s", logs)
		}
		if out, err := k.run("stop"); err != nil {
			t.Errorf(".ci/kafka stop: %v\n%s", err, out)
		}
	})
	require.NoError(t, err, ".ci/kafka start:\n%s", out)
	k.startOut = out
	k.env = parseEnvLines(out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.True(t, strings.HasPrefix(lines[len(lines)-1], "KAFKA_BROKERS=127.0.0.1:"), ".ci/kafka start prints KAFKA_BROKERS last:\n%s", out)
	t.Logf("private Kafka at %s (state %s) started in %s", k.env["KAFKA_BROKERS"], k.stateDir, time.Since(start).Round(time.Millisecond))
	return k
}

// run runs .ci/kafka with this broker's state dir; the returned text is
// stdout (the KEY=VALUE lines), and on error stderr too.
func (k *privateKafka) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.script, args...)
	var env []string
	for _, kv := range os.Environ() {
		// A fixed KAFKA_PORT would collide with the shared broker.
		if !strings.HasPrefix(kv, "KAFKA_PORT=") && !strings.HasPrefix(kv, "KAFKA_STATE_DIR=") && !strings.HasPrefix(kv, "KAFKA_HEAP_OPTS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "KAFKA_STATE_DIR="+k.stateDir, "KAFKA_HEAP_OPTS=-Xms128m -Xmx512m")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (k *privateKafka) brokers() string { return k.env["KAFKA_BROKERS"] }

func parseEnvLines(out string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k != "" && strings.ToUpper(k) == k {
			env[k] = v
		}
	}
	return env
}
