package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func TestInputOpenClose(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)
	produce(t, brokers, topic, []string{"a"})

	for _, group := range []string{"", "consumer_group: g_" + topic + "\n"} {
		t.Run(fmt.Sprintf("group=%t", group != ""), func(t *testing.T) {
			r, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\n%s", brokers, topic, group))

			_, _, err := r.ReadBatch(context.Background())
			require.ErrorIs(t, err, service.ErrNotConnected, "reading before Connect")

			connect(t, in)
			connect(t, in) // idempotent
			b, ack := readOne(t, in)
			require.Len(t, b, 1)
			ackOK(t, ack)
			closeWithin(t, in)
			closeWithin(t, in) // idempotent

			_, _, err = r.ReadBatch(context.Background())
			require.ErrorIs(t, err, service.ErrNotConnected, "reading after Close")
		})
	}
}

func TestInputConnectFailsWithoutBroker(t *testing.T) {
	r, _ := newTestReader(t, "seed_brokers: [ 127.0.0.1:1 ]\ntopics: [ t ]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.Error(t, r.Connect(ctx))
	_, _, err := r.ReadBatch(context.Background())
	require.ErrorIs(t, err, service.ErrNotConnected)
}

func TestInputMetadata(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	require.NoError(t, err)
	ts := time.UnixMilli(1764000000123)
	res := cl.ProduceSync(context.Background(), &kgo.Record{
		Topic:     topic,
		Key:       []byte("order-1"),
		Value:     []byte(`{"id_ordem":"order-1"}`),
		Timestamp: ts,
		Headers: []kgo.RecordHeader{
			{Key: "origin", Value: []byte("test")},
			// Headers named like the input's own keys cannot stand in for
			// what the broker reported; they are kept under another name.
			{Key: MetaOffset, Value: []byte("1000000")},
			{Key: MetaPartition, Value: []byte("abc")},
			{Key: MetaTopic, Value: []byte("outro")},
		},
	})
	cl.Close()
	require.NoError(t, res.FirstErr())
	produced := res[0].Record

	_, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\n", brokers, topic))
	connect(t, in)
	defer closeWithin(t, in)
	b, ack := readOne(t, in)
	require.Len(t, b, 1)
	defer ackOK(t, ack)
	m := b[0]

	body, err := m.AsBytes()
	require.NoError(t, err)
	assert.JSONEq(t, `{"id_ordem":"order-1"}`, string(body))
	want := map[string]string{
		MetaKey:           "order-1",
		MetaTopic:         topic,
		MetaPartition:     strconv.Itoa(int(produced.Partition)),
		MetaOffset:        strconv.FormatInt(produced.Offset, 10),
		MetaTimestampUnix: "1764000000",
		MetaTimestampMs:   "1764000000123",
		MetaTombstone:     "false",
		"origin":          "test",

		HeaderPrefix + MetaOffset:    "1000000",
		HeaderPrefix + MetaPartition: "abc",
		HeaderPrefix + MetaTopic:     "outro",
	}
	for k, v := range want {
		got, ok := m.MetaGet(k)
		assert.True(t, ok, "metadata %s missing", k)
		assert.Equal(t, v, got, "metadata %s", k)
	}
	gotTopic, p, o := position(t, m)
	assert.Equal(t, topic, gotTopic)
	assert.Equal(t, produced.Partition, p)
	assert.Equal(t, produced.Offset, o)

	// The position in the message's context, where no header reaches.
	pos, ok := PositionOf(m)
	require.True(t, ok)
	assert.Equal(t, topic, pos.Topic)
	assert.Equal(t, produced.Partition, pos.Partition)
	assert.Equal(t, produced.Offset, pos.Offset)
}

// TestHundredThousandRecords writes 100 000 records through the output and
// reads them back through the input: nothing lost, nothing duplicated, and
// each partition in offset order.
func TestHundredThousandRecords(t *testing.T) {
	const total, batchSize = 100_000, 1000
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)

	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\nkey: ${! content() }\n", brokers, topic))
	connect(t, w)
	start := time.Now()
	values := seqValues("order-", total)
	for i := 0; i < total; i += batchSize {
		batch := make(service.MessageBatch, batchSize)
		for j := range batch {
			batch[j] = service.NewMessage([]byte(values[i+j]))
		}
		require.NoError(t, w.WriteBatch(context.Background(), batch))
	}
	closeWithin(t, w)
	t.Logf("wrote %d records in %v", total, time.Since(start))

	_, in := newTestReader(t, fmt.Sprintf(`
seed_brokers: [ %q ]
topics: [ %s ]
consumer_group: g_%s
batching:
  count: 500
  period: 50ms
`, brokers, topic, topic))
	connect(t, in)
	defer closeWithin(t, in)

	start = time.Now()
	seen := make(map[string]bool, total)
	lastOffset := map[int32]int64{}
	lastValue := map[int32]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(seen) < total {
		b, ack, err := in.ReadBatch(ctx)
		require.NoError(t, err, "read %d of %d", len(seen), total)
		for _, m := range b {
			gotTopic, p, o := position(t, m)
			require.Equal(t, topic, gotTopic)
			if last, ok := lastOffset[p]; ok {
				require.Greater(t, o, last, "partition %d out of order", p)
			}
			lastOffset[p] = o
			v, err := m.AsBytes()
			require.NoError(t, err)
			require.False(t, seen[string(v)], "duplicate %s", v)
			seen[string(v)] = true
			// Values were produced in increasing order, so within a
			// partition they must come back increasing too.
			require.Greater(t, string(v), lastValue[p], "partition %d out of order", p)
			lastValue[p] = string(v)
		}
		require.NoError(t, ack(ctx, nil))
	}
	t.Logf("read %d records from %d partitions in %v", total, len(lastOffset), time.Since(start))
	assert.Len(t, seen, total)
	assert.Len(t, lastOffset, 6, "keys spread over every partition")
}

// TestConsumerGroupResume reads part of a topic, acknowledges some of it,
// restarts and checks that the second reader continues after what was
// acknowledged: no loss, and duplicates only among unacknowledged messages.
func TestConsumerGroupResume(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)
	values := seqValues("v", 600)
	produce(t, brokers, topic, values)

	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nconsumer_group: g_%s\ncommit_period: 1h\n", brokers, topic, topic)

	t0 := time.Now()
	_, in := newTestReader(t, conf)
	connect(t, in)
	acked := map[string]bool{}
	unacked := map[string]bool{}
	for len(acked) < 250 {
		b, ack := readOne(t, in)
		for _, m := range b {
			v, _ := m.AsBytes()
			acked[string(v)] = true
		}
		ackOK(t, ack)
	}
	for len(unacked) < 50 {
		b, _ := readOne(t, in) // read but never acknowledged
		for _, m := range b {
			v, _ := m.AsBytes()
			unacked[string(v)] = true
		}
	}
	t.Log("read phase 1", time.Since(t0))
	// commit_period is an hour: only Close can have committed.
	closeWithin(t, in)
	t.Log("closed 1", time.Since(t0))

	_, in2 := newTestReader(t, conf)
	connect(t, in2)
	defer closeWithin(t, in2)
	second := map[string]bool{}
	for len(acked)+len(second) < len(values) || !containsAll(second, unacked) {
		b, ack := readOne(t, in2)
		if len(second) == 0 {
			t.Log("first read 2", time.Since(t0))
		}
		for _, m := range b {
			v, _ := m.AsBytes()
			require.False(t, acked[string(v)], "%s was acknowledged before the restart but delivered again", v)
			second[string(v)] = true
		}
		ackOK(t, ack)
	}
	t.Log("read phase 2", time.Since(t0))
	for _, v := range values {
		assert.True(t, acked[v] || second[v], "%s lost", v)
	}
	assert.True(t, containsAll(second, unacked), "unacknowledged messages must come again")
}

func containsAll(set, sub map[string]bool) bool {
	for k := range sub {
		if !set[k] {
			return false
		}
	}
	return true
}

func TestNackRedelivery(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"first", "second"})

	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nconsumer_group: g_%s\n", brokers, topic, topic)
	_, in := newTestReader(t, conf)
	connect(t, in)

	b, ack := readOne(t, in)
	require.Len(t, b, 1)
	_, p, o := position(t, b[0])
	require.NoError(t, ack(context.Background(), errors.New("output rejected it")))

	b, ack = readOne(t, in)
	require.Len(t, b, 1)
	_, p2, o2 := position(t, b[0])
	assert.Equal(t, [2]int64{int64(p), o}, [2]int64{int64(p2), o2}, "a rejected message is delivered again")
	first, _ := b[0].AsBytes()
	assert.Equal(t, "first", string(first))
	ackOK(t, ack)

	v, ack := readValue(t, in)
	assert.Equal(t, "second", v)
	// Rejected and not retried before the restart: it must come back after.
	require.NoError(t, ack(context.Background(), errors.New("rejected again")))
	closeWithin(t, in)

	_, in2 := newTestReader(t, conf)
	connect(t, in2)
	defer closeWithin(t, in2)
	v, ack = readValue(t, in2)
	assert.Equal(t, "second", v, "only the message never acknowledged is read again")
	ackOK(t, ack)
}

// A rejected batch is made again from its records: what the pipeline changed
// in the messages before rejecting them does not come back.
func TestNackReplayIsUnchanged(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"one", "two", "three"})

	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nbatching:\n  count: 3\n", brokers, topic)
	_, in := newTestReader(t, conf)
	connect(t, in)
	defer closeWithin(t, in)

	b, ack := readOne(t, in)
	require.Len(t, b, 3)
	for _, m := range b {
		m.SetBytes([]byte("changed"))
		m.MetaSetMut(MetaOffset, 999)
		m.MetaSetMut("added", "yes")
	}
	require.NoError(t, ack(context.Background(), errors.New("rejected")))

	b, ack = readOne(t, in)
	require.Len(t, b, 3, "the whole batch is delivered again")
	for i, want := range []string{"one", "two", "three"} {
		v, err := b[i].AsBytes()
		require.NoError(t, err)
		assert.Equal(t, want, string(v))
		_, _, o := position(t, b[i])
		assert.Equal(t, int64(i), o)
		_, added := b[i].MetaGet("added")
		assert.False(t, added, "metadata set downstream is not replayed")
		k, _ := b[i].MetaGet(MetaKey)
		assert.Equal(t, want, k, "the key (the value, as produced here)")
	}
	ackOK(t, ack)
}

// Batching processors run again on a replayed batch, as on the first delivery.
func TestNackReplayRunsBatchProcessors(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"a", "b"})

	conf := fmt.Sprintf(`seed_brokers: [ %q ]
topics: [ %s ]
batching:
  count: 2
  processors:
    - mapping: 'root = content().uppercase()'
`, brokers, topic)
	_, in := newTestReader(t, conf)
	connect(t, in)
	defer closeWithin(t, in)

	contents := func(b service.MessageBatch) []string {
		var out []string
		for _, m := range b {
			v, err := m.AsBytes()
			require.NoError(t, err)
			out = append(out, string(v))
		}
		return out
	}
	b, ack := readOne(t, in)
	require.Equal(t, []string{"A", "B"}, contents(b))
	require.NoError(t, ack(context.Background(), errors.New("rejected")))
	b, ack = readOne(t, in)
	assert.Equal(t, []string{"A", "B"}, contents(b))
	ackOK(t, ack)
}

// A replay cut short by shutdown while its batching processors run is not
// committed: the next reader of the group reads the batch again.
func TestNackReplayInterruptedIsNotCommitted(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"a", "b"})

	conf := fmt.Sprintf(`seed_brokers: [ %q ]
topics: [ %s ]
consumer_group: g_%s
batching:
  count: 1
  processors:
    - sleep:
        duration: 500ms
`, brokers, topic, topic)
	_, in := newTestReader(t, conf)
	connect(t, in)
	v, ack := readValue(t, in)
	require.Equal(t, "a", v)
	require.NoError(t, ack(context.Background(), errors.New("rejected")))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, _, err := in.ReadBatch(ctx)
	cancel()
	require.Error(t, err, "the replay's processors outlast the read")
	closeWithin(t, in)

	_, in2 := newTestReader(t, conf)
	connect(t, in2)
	defer closeWithin(t, in2)
	v, ack = readValue(t, in2)
	assert.Equal(t, "a", v, "the rejected batch was never delivered again, so never committed")
	ackOK(t, ack)
}

// Without a consumer group a rejected batch survives a reconnect: the new
// session starts at the end of the topic and would not read it again.
func TestNackReplaySurvivesReconnect(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)

	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nstart_from_oldest: false\n", brokers, topic)
	r, in := newTestReader(t, conf)
	connect(t, in)
	// The session starts at the end of the topic whenever it looks it up:
	// produce numbered records until one has been read.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := cl.ProduceSync(context.Background(), kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
				produced <- err
				return
			}
			select {
			case <-stop:
				produced <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	b, ack := readOne(t, in)
	close(stop)
	require.NoError(t, <-produced)
	_, _, rejected := position(t, b[0])
	require.NoError(t, ack(context.Background(), errors.New("rejected")))

	// A lost connection: the reader closes its session and connects anew.
	closeWithin(t, r)
	connect(t, r)
	defer closeWithin(t, r)
	b, ack = readOne(t, r)
	_, _, o := position(t, b[0])
	assert.Equal(t, rejected, o, "the rejected record comes first, before any newer one")
	ackOK(t, ack)
}

func TestNackWithoutReplayCommits(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"dropped", "kept"})

	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nconsumer_group: g_%s\nauto_replay_nacks: false\n", brokers, topic, topic)
	_, in := newTestReader(t, conf)
	connect(t, in)
	v, ack := readValue(t, in)
	require.Equal(t, "dropped", v)
	require.NoError(t, ack(context.Background(), errors.New("rejected")))
	v, _ = readValue(t, in)
	assert.Equal(t, "kept", v, "with auto_replay_nacks false a rejected message is dropped")
	closeWithin(t, in)

	_, in2 := newTestReader(t, conf)
	connect(t, in2)
	defer closeWithin(t, in2)
	v, ack = readValue(t, in2)
	assert.Equal(t, "kept", v, "the dropped message was committed, the unacknowledged one was not")
	ackOK(t, ack)
}

func TestCheckpointLimitPausesPartition(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, seqValues("v", 20))

	_, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\ncheckpoint_limit: 5\n", brokers, topic))
	connect(t, in)
	defer closeWithin(t, in)

	var acks []service.AckFunc
	for range 5 {
		_, ack := readOne(t, in)
		acks = append(acks, ack)
	}

	// Five messages are unacknowledged: the sixth must wait.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _, err := in.ReadBatch(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "more than checkpoint_limit messages in flight")

	// The limit counts unacknowledged messages, so acknowledging any of them
	// (even the newest, which cannot be committed yet) makes room for one more.
	ackOK(t, acks[4])
	v, ack := readValue(t, in)
	assert.Equal(t, "v000005", v)
	ackOK(t, ack)
	for _, a := range acks[:4] {
		ackOK(t, a)
	}
	for i := 6; i < 20; i++ {
		v, ack := readValue(t, in)
		assert.Equal(t, fmt.Sprintf("v%06d", i), v)
		ackOK(t, ack)
	}
}

// TestCommitWaitsForOlderAcks acknowledges messages out of order and checks
// that the committed offset never passes a message that was not acknowledged.
func TestCommitWaitsForOlderAcks(t *testing.T) {
	brokers := testBrokers(t)
	tests := []struct {
		name      string
		ack       []int // indexes of the five read messages to acknowledge
		wantFirst string
	}{
		{"oldest not acked", []int{1, 2, 3, 4}, "v000000"},
		{"gap in the middle", []int{0, 2, 3}, "v000001"},
		{"all acked", []int{4, 3, 2, 1, 0}, "v000005"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := createTopic(t, brokers, 1)
			produce(t, brokers, topic, seqValues("v", 6))
			conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nconsumer_group: g_%s\n", brokers, topic, topic)

			_, in := newTestReader(t, conf)
			connect(t, in)
			var acks []service.AckFunc
			for range 5 {
				_, ack := readOne(t, in)
				acks = append(acks, ack)
			}
			for _, i := range tc.ack {
				ackOK(t, acks[i])
			}
			closeWithin(t, in)

			_, in2 := newTestReader(t, conf)
			connect(t, in2)
			defer closeWithin(t, in2)
			v, ack := readValue(t, in2)
			assert.Equal(t, tc.wantFirst, v)
			ackOK(t, ack)
		})
	}
}
