package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

func TestOutputOpenClose(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 6)
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\n", brokers, topic))

	err := w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte("x"))})
	require.ErrorIs(t, err, service.ErrNotConnected, "writing before Connect")

	connect(t, w)
	connect(t, w) // idempotent
	require.NoError(t, w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte("x"))}))
	closeWithin(t, w)
	closeWithin(t, w) // idempotent

	err = w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte("y"))})
	require.ErrorIs(t, err, service.ErrNotConnected, "writing after Close")

	recs := readTopic(t, brokers, topic, 1)
	assert.Equal(t, "x", string(recs[0].Value))
}

func TestOutputConnectFailsWithoutBroker(t *testing.T) {
	w := newTestWriter(t, "seed_brokers: [ 127.0.0.1:1 ]\ntopic: t\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.Error(t, w.Connect(ctx))
	err := w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte("x"))})
	require.ErrorIs(t, err, service.ErrNotConnected)
}

func TestOutputRecords(t *testing.T) {
	brokers := testBrokers(t)
	tests := []struct {
		name   string
		extra  string
		check  func(t *testing.T, i int, partition int32, key string, headers map[string]string)
		nBatch int
	}{
		{
			name:  "key and headers",
			extra: "key: ${! meta(\"id\") }\nmetadata:\n  include_prefixes: [ app_ ]\n",
			check: func(t *testing.T, i int, _ int32, key string, headers map[string]string) {
				assert.Equal(t, fmt.Sprintf("id-%d", i), key)
				assert.Equal(t, map[string]string{"app_origin": "test", "app_n": fmt.Sprint(i)}, headers, "only app_ metadata becomes headers")
			},
		},
		{
			name:  "no metadata filter sends no headers",
			extra: "key: ${! meta(\"id\") }\n",
			check: func(t *testing.T, _ int, _ int32, _ string, headers map[string]string) {
				assert.Empty(t, headers)
			},
		},
		{
			name:  "manual partition",
			extra: "partitioner: manual\npartition: ${! meta(\"app_n\").number() % 3 }\n",
			check: func(t *testing.T, i int, partition int32, _ string, _ map[string]string) {
				assert.Equal(t, int32(i%3), partition)
			},
		},
		{
			name:  "same key same partition with murmur2",
			extra: "key: ${! meta(\"app_n\").number() % 2 }\n",
			check: func(t *testing.T, i int, partition int32, key string, _ map[string]string) {
				assert.Equal(t, fmt.Sprint(i%2), key)
			},
		},
		{name: "gzip", extra: "compression: gzip\n"},
		{name: "snappy", extra: "compression: snappy\n"},
		{name: "lz4", extra: "compression: lz4\n"},
		{name: "zstd", extra: "compression: zstd\n"},
		{name: "none", extra: "compression: none\nidempotent_write: false\n"},
		{name: "round robin", extra: "partitioner: round_robin\n"},
		{name: "least backup", extra: "partitioner: least_backup\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := createTopic(t, brokers, 6)
			w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\n%s", brokers, topic, tc.extra))
			connect(t, w)
			defer closeWithin(t, w)

			const n = 30
			batch := make(service.MessageBatch, n)
			for i := range batch {
				m := service.NewMessage(fmt.Appendf(nil, `{"n":%d}`, i))
				m.MetaSetMut("id", fmt.Sprintf("id-%d", i))
				m.MetaSetMut("app_origin", "test")
				m.MetaSetMut("app_n", fmt.Sprint(i))
				batch[i] = m
			}
			require.NoError(t, w.WriteBatch(context.Background(), batch))

			recs := readTopic(t, brokers, topic, n)
			require.Len(t, recs, n)
			seen := map[int]bool{}
			keyPartition := map[string]int32{}
			for _, r := range recs {
				var i int
				_, err := fmt.Sscanf(string(r.Value), `{"n":%d}`, &i)
				require.NoError(t, err)
				assert.False(t, seen[i], "record %d written twice", i)
				seen[i] = true
				headers := map[string]string{}
				for _, h := range r.Headers {
					headers[h.Key] = string(h.Value)
				}
				if p, ok := keyPartition[string(r.Key)]; ok && len(r.Key) > 0 {
					assert.Equal(t, p, r.Partition, "one key, one partition")
				}
				keyPartition[string(r.Key)] = r.Partition
				if tc.check != nil {
					tc.check(t, i, r.Partition, string(r.Key), headers)
				}
			}
			assert.Len(t, seen, n)
		})
	}
}

func TestOutputReportsFailedMessages(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\npartitioner: manual\npartition: ${! meta(\"p\") }\n", brokers, topic))
	connect(t, w)
	defer closeWithin(t, w)

	ok := service.NewMessage([]byte("ok"))
	ok.MetaSetMut("p", "0")
	bad := service.NewMessage([]byte("bad"))
	bad.MetaSetMut("p", "7") // the topic has one partition

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := service.MessageBatch{ok, bad}
	idx := batch.Index()
	err := w.WriteBatch(ctx, batch)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("topic %s partition 7", topic))

	var bErr *service.BatchError
	require.True(t, errors.As(err, &bErr), "a batch error tells which messages to retry: %v", err)
	failed := 0
	bErr.WalkMessagesIndexedBy(idx, func(i int, _ *service.Message, err error) bool {
		if err != nil {
			failed++
			assert.Equal(t, 1, i, "only the message for partition 7 fails")
		}
		return true
	})
	assert.Equal(t, 1, failed)

	recs := readTopic(t, brokers, topic, 1)
	assert.Equal(t, "ok", string(recs[0].Value))
}

// recreateTopic deletes topic and creates it again with the same partitions,
// as an operator would; the producer's client still holds the old topic ID.
func recreateTopic(t *testing.T, brokers, topic string, partitions int32) {
	t.Helper()
	adm := newAdmin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resps, err := adm.DeleteTopics(ctx, topic)
	require.NoError(t, err)
	require.NoError(t, resps.Error())
	// Real Kafka deletes asynchronously: creating again fails until it is done.
	// The producer's auto topic creation may also get there first.
	require.Eventually(t, func() bool {
		resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
		return err == nil && (resp.Err == nil || errors.Is(resp.Err, kerr.TopicAlreadyExists))
	}, 60*time.Second, 100*time.Millisecond, "create %s again", topic)
	waitLeaders(t, brokers, topic, partitions)
}

// waitLeaders waits until every partition of topic has a leader.
func waitLeaders(t *testing.T, brokers, topic string, partitions int32) {
	t.Helper()
	adm := newAdmin(t, brokers)
	require.Eventually(t, func() bool {
		md, err := adm.Metadata(context.Background(), topic)
		if err != nil {
			return false
		}
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond, "topic %s never got leaders", topic)
}

// TestOutputRecoversFromTopicRecreation deletes and recreates the topic the
// output writes to: franz-go keeps the old topic ID and failed every record
// with UNKNOWN_TOPIC_ID forever. The output must write to the new topic
// within seconds, and every record it reports as written must be there.
func TestOutputRecoversFromTopicRecreation(t *testing.T) {
	brokers := testBrokers(t)
	const partitions = 3
	topic := createTopic(t, brokers, partitions)
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\nkey: ${! content() }\n", brokers, topic))
	connect(t, w)
	defer closeWithin(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var written []string
	write := func(prefix string, n int) error {
		batch := make(service.MessageBatch, n)
		values := seqValues(prefix, n)
		for i := range batch {
			batch[i] = service.NewMessage([]byte(values[i]))
		}
		err := w.WriteBatch(ctx, batch)
		if err == nil {
			written = append(written, values...)
		}
		return err
	}
	require.NoError(t, write("old-", 30))

	recreateTopic(t, brokers, topic, partitions)
	written = nil // the old topic's records went with it
	start := time.Now()
	var failures []error
	for i := 0; ; i++ {
		err := write(fmt.Sprintf("new%03d-", i), 30)
		if err == nil {
			break
		}
		failures = append(failures, err)
		require.Less(t, time.Since(start), 20*time.Second, "still failing after the topic was recreated: %v", failures)
	}
	t.Logf("writing again %v after the topic was recreated, %d failed batches meanwhile", time.Since(start).Round(time.Millisecond), len(failures))
	for i := range 5 {
		require.NoError(t, write(fmt.Sprintf("more%d-", i), 30))
	}

	got := map[string]bool{}
	for _, r := range readTopic(t, brokers, topic, len(written)) {
		got[string(r.Value)] = true
	}
	for _, v := range written {
		assert.True(t, got[v], "record %s reported written is not on the new topic", v)
	}
}

// oversizedTopic creates a topic whose max.message.bytes is limit.
func oversizedTopic(t *testing.T, brokers string, limit int) string {
	t.Helper()
	name := kafkatest.TopicName(t)
	adm := newAdmin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := strconv.Itoa(limit)
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"max.message.bytes": &v}, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	t.Cleanup(func() { _, _ = newAdmin(t, brokers).DeleteTopics(context.Background(), name) })
	waitLeaders(t, brokers, name, 1)
	return name
}

// letters is n bytes of text that does not compress much, ending in a
// two-byte UTF-8 character.
func letters(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n-2)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return append(b, "é"...)
}

// TestOutputOversized: a record the broker or the client refuses for its
// size is either written cut to size with headers saying so (truncate) or
// fails with a clear error and a back-off before it is tried again (fail).
func TestOutputOversized(t *testing.T) {
	brokers := testBrokers(t)
	const brokerLimit = 2000
	big := letters(10_000)

	t.Run("truncate to the topic's max.message.bytes", func(t *testing.T) {
		topic := oversizedTopic(t, brokers, brokerLimit)
		w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\ncompression: none\noversized: truncate\nkey: ${! meta(\"k\") }\n", brokers, topic))
		connect(t, w)
		defer closeWithin(t, w)
		small := service.NewMessage([]byte("small"))
		small.MetaSetMut("k", "a")
		large := service.NewMessage(big)
		large.MetaSetMut("k", "b")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, w.WriteBatch(ctx, service.MessageBatch{small, large}))

		recs := readTopic(t, brokers, topic, 2)
		byKey := map[string]*kgo.Record{}
		for _, r := range recs {
			byKey[string(r.Key)] = r
		}
		require.Contains(t, byKey, "a")
		require.Contains(t, byKey, "b")
		assert.Equal(t, "small", string(byKey["a"].Value), "a record that fits is written as it is")
		assert.Empty(t, byKey["a"].Headers)
		cut := byKey["b"]
		assert.Less(t, len(cut.Value), brokerLimit)
		assert.Greater(t, len(cut.Value), brokerLimit/2, "cut to the limit, not far below")
		assert.Equal(t, string(big[:len(cut.Value)]), string(cut.Value), "the value's beginning")
		assert.True(t, utf8.Valid(cut.Value))
		assert.Equal(t, map[string]string{headerTruncated: "true", headerOriginalSize: "10000"}, recordHeaders(cut))
	})

	t.Run("truncate to max_message_bytes", func(t *testing.T) {
		topic := createTopic(t, brokers, 1)
		w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\noversized: truncate\nmax_message_bytes: 1KiB\n", brokers, topic))
		connect(t, w)
		defer closeWithin(t, w)
		require.NoError(t, w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(big)}))
		r := readTopic(t, brokers, topic, 1)[0]
		assert.Less(t, len(r.Value), 1024)
		assert.Greater(t, len(r.Value), 800)
		assert.Equal(t, "10000", recordHeaders(r)[headerOriginalSize])
	})

	t.Run("fail backs off with a clear error", func(t *testing.T) {
		topic := oversizedTopic(t, brokers, brokerLimit)
		log, buf := capturingLogger()
		conf, err := outputSpec().ParseYAML(fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\ncompression: none\n", brokers, topic), nil)
		require.NoError(t, err)
		w, err := newFranzWriterFromConfig(conf, service.MockResources(service.MockResourcesOptUseLogger(log)))
		require.NoError(t, err)
		connect(t, w)
		defer closeWithin(t, w)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var took []time.Duration
		for range 2 {
			start := time.Now()
			err := w.WriteBatch(ctx, service.MessageBatch{service.NewMessage(big)})
			took = append(took, time.Since(start))
			require.Error(t, err)
			assert.ErrorIs(t, err, kerr.MessageTooLarge)
		}
		// Benthos sends a refused batch again at once: the wait is ours.
		assert.GreaterOrEqual(t, took[0], retryInitial, "first retry waits")
		assert.GreaterOrEqual(t, took[1], 2*retryInitial, "then longer")
		assert.Equal(t, 1, strings.Count(buf.String(), "is larger than the limit"), "logged once, not on every retry:\n%s", buf.String())
		assert.Contains(t, buf.String(), "oversized: truncate")
	})
}

func recordHeaders(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

func TestOutputOversizedField(t *testing.T) {
	_, err := outputSpec().ParseYAML("seed_brokers: [ a:9092 ]\ntopic: t\noversized: drop\n", nil)
	if err == nil {
		conf, _ := outputSpec().ParseYAML("seed_brokers: [ a:9092 ]\ntopic: t\noversized: drop\n", nil)
		_, err = newFranzWriterFromConfig(conf, service.MockResources())
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "oversized")
}
