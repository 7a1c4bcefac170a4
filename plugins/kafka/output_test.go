package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"
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
