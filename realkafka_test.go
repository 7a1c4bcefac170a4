package main

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// TestBrokerCrashMidProduceAndConsume kills a real Kafka (SIGKILL, with
// .ci/kafka kill) twice while produce.yaml writes orders at a steady rate and
// consume.yaml (state on Kafka, consumer group) reads them, and starts it again
// each time on the same ports (.ci/kafka restart). produce.yaml must still
// end by itself with every generated order on the topic at least once, and
// the consumer's totals must equal the independent sum over the topic,
// duplicates included (each is a record the consumer reads).
//
// The broker is the test's own (.ci/kafka start in a temporary state dir):
// `go test ./...` runs packages in parallel, and the shared one from
// KAFKA_BROKERS must stay up for them.
func TestBrokerCrashMidProduceAndConsume(t *testing.T) {
	t.Parallel()
	kafkatest.RealBrokers(t) // real Kafka only, as CI provides
	k := startPrivateKafka(t)
	brokers := k.brokers()

	out, err := k.run("restart")
	require.Error(t, err, "restart refuses a running broker")
	assert.Contains(t, out, "already running")

	const orders = 60_000
	const seed = "61"
	topic := kafkatest.CreateTopic(t, brokers, 6)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	group := "broker-crash-" + topic
	cons := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), consumeEnv(brokers, topic, group))
	// The producer starts once the consumer owns every partition: a broker
	// just started, on a loaded machine, took 10 s to give the group its
	// coordinator, and the producer had ended before the consumer counted
	// enough for the first crash.
	waitOwnsAll(t, cons, 6)
	// 5 000 orders/s: the producer is still at it when the broker dies.
	prod := startConfig(t, "produce", kafkatest.ConfigPath("produce.yaml"), produceEnv(brokers, topic, orders, "5000", seed))

	// crash kills the broker once the consumer has counted consumed orders
	// and says whether the producer was still running then.
	crash := func(consumed int64) bool {
		t.Helper()
		s, _, err := cons.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= consumed })
		require.NoError(t, err)
		producing := !prod.Exited()
		start := time.Now()
		out, err := k.run("kill")
		require.NoError(t, err, ".ci/kafka kill: %s", out)
		_, err = net.DialTimeout("tcp", brokers, time.Second)
		require.Error(t, err, "the killed broker's port is closed")
		out, err = k.run("env")
		require.Error(t, err, ".ci/kafka env after kill: %s", out)
		out, err = k.run("kill")
		require.Error(t, err, ".ci/kafka kill without a broker: %s", out)
		assert.Contains(t, out, "no broker running")

		out, err = k.run("restart")
		require.NoError(t, err, ".ci/kafka restart: %s", out)
		assert.Equal(t, k.startOut, out, "restart prints what start printed: the same ports")
		t.Logf("broker killed at pedidos=%d (producer running: %v) and back in %s", s.Orders, producing, time.Since(start).Round(time.Millisecond))
		return producing
	}
	require.True(t, crash(orders/6), "produce.yaml must still be running at the first crash: make it slower")
	crash(orders * 2 / 3)

	require.NoError(t, prod.Wait(2*time.Minute), "produce.yaml ends by itself once every order is acknowledged")

	recs := readIndependently(t, brokers, topic, orders)
	seen := make(map[string]int, orders)
	for _, r := range recs {
		o, err := order.Decode(r.Value)
		require.NoError(t, err, "partition %d offset %d", r.Partition, r.Offset)
		seen[o.ID]++
	}
	var missing []string
	for _, id := range generatedIDs(t, orders, seed) {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	assert.Empty(t, missing, "every generated order is on the topic (at least once)")
	assert.Len(t, seen, orders, "no order on the topic that was not generated")
	t.Logf("topic holds %d records for %d orders: %d duplicates", len(recs), orders, len(recs)-len(seen))

	want := independentSum(t, recs)
	final, _, err := cons.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= int64(len(recs)) })
	require.NoError(t, err)
	t.Logf("consumer reached pedidos=%d", final.Orders)
	assertTotals(t, want, final)
	assertOffsetsComplete(t, brokers, topic, final)
	require.NoError(t, cons.Stop(30*time.Second), "a graceful stop ends with status 0")
}

// TestSCRAM runs the shipped produce.yaml and consume.yaml through the
// SCRAM-SHA-512 listener of the real Kafka (KAFKA_SASL_* variables), and
// checks that a wrong password is reported as an authentication failure
// within seconds instead of hanging.
func TestSCRAM(t *testing.T) {
	t.Parallel()
	plain := kafkatest.RealBrokers(t)
	scram, user, pass := os.Getenv("KAFKA_SCRAM_BROKERS"), os.Getenv("KAFKA_SCRAM_USER"), os.Getenv("KAFKA_SCRAM_PASSWORD")
	if scram == "" || user == "" || pass == "" {
		kafkatest.SkipOrFail(t, "needs KAFKA_SCRAM_BROKERS, KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD (.ci/kafka start prints them)")
	}
	produceConf, consumeConf := kafkatest.ConfigPath("produce.yaml"), kafkatest.ConfigPath("consume.yaml")
	withCreds := func(env map[string]string, password string) map[string]string {
		env["KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-512"
		env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"] = user, password
		return env
	}

	t.Run("produce and consume", func(t *testing.T) {
		const orders = 5000
		topic := kafkatest.CreateTopic(t, plain, 6)
		kafkatest.CreateNamedTopic(t, plain, topic+"_dlq", 1)
		p := startConfig(t, "produce over SCRAM", produceConf, withCreds(produceEnv(scram, topic, orders, "0", "5"), pass))
		require.NoError(t, p.Wait(time.Minute), "produce over SCRAM ends by itself")

		// Read on the plain listener: kcat cannot do SCRAM against Kafka 4.
		recs := readIndependently(t, plain, topic, orders)
		require.Len(t, recs, orders)
		want := independentSum(t, recs)

		c := startConfig(t, "consume over SCRAM", consumeConf, withCreds(consumeEnv(scram, topic, "scram-"+topic), pass))
		got, _, err := c.WaitSnapshot(time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= orders })
		require.NoError(t, err)
		assertTotals(t, want, got)
		require.NoError(t, c.Stop(30*time.Second))
	})

	// consume.yaml's input and its outputs (the DLQ, the state topic) all
	// connect with the same credentials; whichever reaches the broker first
	// reports the failure and stops the process, so either path may be named.
	for _, tc := range []struct {
		name, config string
		components   []string
	}{
		{"produce with a wrong password", produceConf, []string{"path=root.output"}},
		{"consume with a wrong password", consumeConf, []string{"path=root.input", "path=root.output"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := kafkatest.CreateTopic(t, plain, 6)
			env := withCreds(consumeEnv(scram, topic, "scram-wrong-"+topic), "wrong-"+pass)
			for k, v := range produceEnv(scram, topic, 100, "0", "1") {
				env[k] = v
			}
			start := time.Now()
			p := startConfig(t, tc.name, tc.config, env)
			line, err := p.WaitOutput(30*time.Second, "SASL", "authentication", "path=root.")
			require.NoError(t, err, "a wrong password must be reported as a SASL authentication failure naming the component")
			named := false
			for _, c := range tc.components {
				named = named || strings.Contains(line, c)
			}
			assert.True(t, named, "the failure names one of %v: %s", tc.components, line)
			t.Logf("reported after %s (exited: %v): %s", time.Since(start).Round(time.Millisecond), p.Exited(), line)
			assert.Contains(t, line, "level=error", "reported as an error")
			if !p.Exited() {
				p.Kill()
			}
			for part, end := range endOffsets(t, plain, topic) {
				assert.Zero(t, end, "nothing written to partition %d", part)
			}
		})
	}
}
