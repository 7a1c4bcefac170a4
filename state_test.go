package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// produceWithHeaders writes values to topic, each with the given headers.
func produceWithHeaders(t *testing.T, brokers, topic string, values []string, headers [][]kgo.RecordHeader) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "spoof-%d", i), Value: []byte(v), Headers: headers[i%len(headers)]}
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// TestSpoofedPositionHeaders: record headers named like the positions the
// input reports (kafka_offset, kafka_partition, kafka_topic), valid or not,
// change nothing: every order is counted, and a record taken from the DLQ,
// fixed and republished with its headers is counted too.
func TestSpoofedPositionHeaders(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	headers := [][]kgo.RecordHeader{
		h("kafka_offset", "1000000"),
		h("kafka_offset", "abc"),
		h("kafka_partition", "7", "kafka_offset", "0"),
		h("kafka_partition", "-1"),
		h("kafka_topic", "outro_topico", "kafka_partition", "0", "kafka_offset", "999999999"),
		h("kafka_topic", ""),
	}
	const n = 60
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf(validTemplate, fmt.Sprintf("spoof-%d", i))
	}
	produceWithHeaders(t, brokers, topic, values, headers)
	bad := badRecords()[4] // valor_total off by one centavo
	produceBad(t, brokers, topic, []badRecord{bad})

	p := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), consumeEnv(brokers, topic, "spoof-"+topic))
	_, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= n && s.Rejected >= 1 })
	require.NoError(t, err)

	// The operator fixes the rejected order and republishes the DLQ record
	// as it is, headers and all (kafka_topic, kafka_partition, kafka_offset).
	var dlq []*kgo.Record
	require.Eventually(t, func() bool {
		dlq = readAll(t, brokers, topic+"_dlq")
		return len(dlq) >= 1
	}, 30*time.Second, 100*time.Millisecond)
	names := map[string]bool{}
	for _, hd := range dlq[0].Headers {
		names[hd.Key] = true
	}
	require.True(t, names["kafka_offset"] && names["kafka_partition"] && names["kafka_topic"], "the DLQ record carries the position headers: %v", names)
	fixed := strings.Replace(string(dlq[0].Value), `"valor_total":119.81`, `"valor_total":119.80`, 1)
	produceWithHeaders(t, brokers, topic, []string{fixed}, [][]kgo.RecordHeader{dlq[0].Headers})

	s, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= n+1 })
	require.NoError(t, err, "the fixed, republished order is counted")
	recs := readIndependently(t, brokers, topic, n+2)
	want := independentSum(t, recs)
	assert.Equal(t, int64(n+1), want.Orders)
	assertTotals(t, want, s)
	assert.Equal(t, int64(1), s.Rejected)
	require.NoError(t, p.Stop(30*time.Second))
}

// TestTopicRecreated: the orders topic is deleted and created again under a
// state that counted the old one. The consumer stops with a message naming
// the topic, both topic IDs and the reset command; after the reset the
// totals are those of the new topic, exactly.
func TestTopicRecreated(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topicID := func() string {
		var id [16]byte
		require.Eventually(t, func() bool {
			td, err := adm.ListTopics(ctx, topic)
			if err != nil || td.Error() != nil || !td.Has(topic) {
				return false
			}
			id = td[topic].ID
			return true
		}, 60*time.Second, 100*time.Millisecond, "the metadata of %s", topic)
		return hex.EncodeToString(id[:])
	}
	env := consumeEnv(brokers, topic, "recreated-"+topic)

	produceOrders(t, brokers, topic, 1000, "31")
	p := startConfig(t, "consume old topic", kafkatest.ConfigPath("consume.yaml"), env)
	_, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= 1000 })
	require.NoError(t, err)
	require.NoError(t, p.Stop(30*time.Second))
	oldID := topicID()

	del, err := adm.DeleteTopics(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, del.Error())
	require.Eventually(t, func() bool {
		td, err := adm.ListTopics(ctx, topic)
		return err == nil && !td.Has(topic)
	}, 60*time.Second, 100*time.Millisecond, "%s is never gone", topic)
	require.Eventually(t, func() bool {
		resp, err := adm.CreateTopic(ctx, 3, -1, nil, topic)
		return err == nil && resp.Err == nil
	}, 60*time.Second, 200*time.Millisecond, "creating %s again", topic)
	newID := topicID()
	require.NotEqual(t, oldID, newID)
	produceOrders(t, brokers, topic, 300, "32")

	p = startConfig(t, "consume new topic", kafkatest.ConfigPath("consume.yaml"), env)
	err = p.Wait(90 * time.Second)
	require.Error(t, err, "the consumer must stop, not count the new topic on top of the old totals")
	stderr := p.Stderr()
	for _, want := range []string{topic, oldID, newID, "deleted and created again", "vendas-connect reset-state"} {
		assert.Contains(t, stderr, want)
	}
	for _, line := range p.Stdout() {
		assert.False(t, kafkatest.IsSnapshotLine(line) && strings.Contains(line, `"pedidos":1300`), "no snapshot may add the new topic to the old totals: %s", line)
	}

	out, err := exec.Command(kafkatest.Binary(t), "reset-state", "--brokers", brokers, "--state-topic", topic+"_totais").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "deleted state topic "+topic+"_totais")

	p = startConfig(t, "consume after reset", kafkatest.ConfigPath("consume.yaml"), env)
	s, _, err := p.WaitSnapshot(90*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= 300 })
	require.NoError(t, err)
	want := independentSum(t, readIndependently(t, brokers, topic, 300))
	assertTotals(t, want, s)
	require.NoError(t, p.Stop(30*time.Second))
}

// TestPartitionsAdded: partitions added to the topic while a consumer runs
// are read within seconds, from their beginning.
func TestPartitionsAdded(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 2)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	produceOrders(t, brokers, topic, 200, "41")
	p := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), consumeEnv(brokers, topic, "grow-"+topic))
	_, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= 200 })
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := kafkatest.Admin(t, brokers).CreatePartitions(ctx, 2, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	added := time.Now()
	produceOrders(t, brokers, topic, 400, "42")
	s, _, err := p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= 600 })
	require.NoError(t, err)
	took := time.Since(added)
	t.Logf("orders in the added partitions counted %s after the partitions were added", took.Round(time.Millisecond))
	assert.Less(t, took, 30*time.Second, "partitions added to the topic are read within seconds")
	assert.Len(t, s.Offsets[topic], 4, "the snapshot covers the four partitions")
	want := independentSum(t, readIndependently(t, brokers, topic, 600))
	assertTotals(t, want, s)
	require.NoError(t, p.Stop(30*time.Second))
}

// TestTopicRecreatedWhileRunning: the orders topic is deleted and created
// again under a running consumer. It stops with the topic and both IDs named,
// and never prints the new topic's orders on top of the old totals.
func TestTopicRecreatedWhileRunning(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produceOrders(t, brokers, topic, 500, "51")
	td, err := adm.ListTopics(ctx, topic)
	require.NoError(t, err)
	oldID := td[topic].ID

	p := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), consumeEnv(brokers, topic, "live-"+topic))
	_, _, err = p.WaitSnapshot(60*time.Second, 0, func(s kafkatest.Snapshot) bool { return s.Orders >= 500 })
	require.NoError(t, err)

	del, err := adm.DeleteTopics(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, del.Error())
	require.Eventually(t, func() bool {
		resp, err := adm.CreateTopic(ctx, 3, -1, nil, topic)
		return err == nil && resp.Err == nil
	}, 60*time.Second, 200*time.Millisecond, "creating %s again", topic)
	produceOrders(t, brokers, topic, 300, "52")
	td, err = adm.ListTopics(ctx, topic)
	require.NoError(t, err)
	newID := td[topic].ID
	require.NotEqual(t, oldID, newID)

	err = p.Wait(90 * time.Second)
	require.Error(t, err, "the consumer must stop")
	stderr := p.Stderr()
	for _, want := range []string{topic, hex.EncodeToString(oldID[:]), hex.EncodeToString(newID[:]), "vendas-connect reset-state"} {
		assert.Contains(t, stderr, want)
	}
	for _, line := range p.Stdout() {
		if s, err := kafkatest.ParseSnapshot(line); err == nil {
			assert.LessOrEqual(t, s.Orders, int64(500), "a snapshot counted the new topic on top of the old one")
		}
	}
}
