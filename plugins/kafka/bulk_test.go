package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// bulkOwner is a PartitionOwner that takes bulk, as sales_aggregate does.
type bulkOwner struct{ bulk bool }

func (bulkOwner) Assign(context.Context, string, [16]byte, []int32) (map[int32]Start, error) {
	return nil, nil
}
func (bulkOwner) Revoke(string, []int32)                    {}
func (bulkOwner) TopicIDChanged(string, [16]byte, [16]byte) {}
func (bulkOwner) PositionLost(string, int32, error)         {}
func (o bulkOwner) TakesBulk() bool                         { return o.bulk }

// newOwnedReader is a reader of a stream whose buffer is owner.
func newOwnedReader(t *testing.T, yaml string, owner PartitionOwner) *franzReader {
	t.Helper()
	conf, err := inputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	mgr := service.MockResources()
	SetPartitionOwner(mgr, owner)
	r, err := newFranzReaderFromConfig(conf, mgr)
	require.NoError(t, err)
	return r
}

// With an owner that takes bulk, every record arrives once, in offset order
// per partition, in messages of at most batching.count records; a rejected
// bulk comes back with the same records.
func TestBulkDelivery(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 2)
	const n = 2500
	produce(t, brokers, topic, seqValues("v", n))

	in := newOwnedReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\nbatching:\n  count: 300\n", brokers, topic), bulkOwner{bulk: true})
	connect(t, in)
	defer closeWithin(t, in)
	require.True(t, in.bulk, "an owner that takes bulk gets bulk")

	next := map[int32]int64{}
	seen := map[string]bool{}
	rejectedOnce := false
	for len(seen) < n {
		b, ack := readOne(t, in)
		require.Len(t, b, 1, "one message per bulk")
		bulk, intact, ok := BulkOf(b[0])
		require.True(t, ok, "the message carries records")
		require.True(t, intact)
		require.NotEmpty(t, bulk.Records)
		require.LessOrEqual(t, len(bulk.Records), 300, "batching.count bounds a bulk")
		p := bulk.Position.Partition
		assert.Equal(t, topic, bulk.Position.Topic)
		part, err := b[0].MetaGet(MetaPartition)
		require.True(t, err)
		assert.Equal(t, fmt.Sprint(p), part)
		if !rejectedOnce {
			rejectedOnce = true
			require.NoError(t, ack(context.Background(), errors.New("rejected")))
			again, ack2 := readOne(t, in)
			b2, _, ok := BulkOf(again[0])
			require.True(t, ok)
			require.Equal(t, bulk.Records, b2.Records, "a rejected bulk comes back with the same records")
			ack = ack2
		}
		assert.Equal(t, bulk.Records[0].Offset, bulk.Position.Offset)
		for _, rec := range bulk.Records {
			require.Equal(t, p, rec.Partition)
			require.Equal(t, next[p], rec.Offset, "partition %d in offset order, none skipped", p)
			next[p]++
			require.False(t, seen[string(rec.Value)], "record %s twice", rec.Value)
			seen[string(rec.Value)] = true
		}
		ackOK(t, ack)
	}
	assert.Len(t, seen, n)
}

// A record's own message, made when the owner needs one (to reject it), has
// the metadata and position kafka_franz gives without bulk.
func TestRecordMessageMatchesPerRecordDelivery(t *testing.T) {
	brokers := testBrokers(t)
	topic := createTopic(t, brokers, 1)
	produce(t, brokers, topic, []string{"one"})
	conf := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\n", brokers, topic)

	plain := newOwnedReader(t, conf+"bulk: false\n", bulkOwner{bulk: true})
	connect(t, plain)
	b, ack := readOne(t, plain)
	ackOK(t, ack)
	closeWithin(t, plain)
	_, _, isBulk := BulkOf(b[0])
	require.False(t, isBulk, "bulk: false delivers one message per record")
	want := map[string]any{}
	require.NoError(t, b[0].MetaWalkMut(func(k string, v any) error { want[k] = v; return nil }))

	bulky := newOwnedReader(t, conf, bulkOwner{bulk: true})
	connect(t, bulky)
	defer closeWithin(t, bulky)
	b, ack = readOne(t, bulky)
	ackOK(t, ack)
	bulk, _, ok := BulkOf(b[0])
	require.True(t, ok)
	m := RecordMessage(bulk.Position, bulk.Records[0])
	got := map[string]any{}
	require.NoError(t, m.MetaWalkMut(func(k string, v any) error { got[k] = v; return nil }))
	assert.Equal(t, want, got)
	pos, ok := PositionOf(m)
	require.True(t, ok)
	assert.Equal(t, int64(0), pos.Offset)
	v, err := m.AsBytes()
	require.NoError(t, err)
	assert.Equal(t, "one", string(v))
}

// Bulk only where the records reach an owner that takes it as fetched.
func TestBulkOnlyWhereItFits(t *testing.T) {
	brokers := testBrokers(t)
	base := fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ t ]\n", brokers)
	for name, c := range map[string]struct {
		yaml  string
		owner PartitionOwner
		bulk  bool
	}{
		"owner takes bulk":       {base, bulkOwner{bulk: true}, true},
		"owner declines":         {base, bulkOwner{bulk: false}, false},
		"no owner":               {base, nil, false},
		"bulk: false":            {base + "bulk: false\n", bulkOwner{bulk: true}, false},
		"batching processors":    {base + "batching:\n  count: 10\n  processors:\n    - mapping: root = this\n", bulkOwner{bulk: true}, false},
		"batching check":         {base + "batching:\n  check: 'true'\n", bulkOwner{bulk: true}, false},
		"batching count and age": {base + "batching:\n  count: 10\n  period: 1s\n", bulkOwner{bulk: true}, true},
	} {
		t.Run(name, func(t *testing.T) {
			in := newOwnedReader(t, c.yaml, c.owner)
			connect(t, in)
			defer closeWithin(t, in)
			assert.Equal(t, c.bulk, in.bulk)
		})
	}
}

// A processor that rewrites a bulk message is told apart from the input's.
func TestBulkOfNoticesRewrite(t *testing.T) {
	m := newRecordMeta(context.Background(), "t", 0, [16]byte{}, 0)
	msg := m.bulkMessage(seqRecords(3))
	_, intact, ok := BulkOf(msg)
	require.True(t, ok)
	require.True(t, intact)
	msg.SetBytes([]byte(string(bulkContent)))
	_, intact, ok = BulkOf(msg)
	require.True(t, ok)
	assert.False(t, intact, "the same text in a new slice is a rewrite")
	msg = m.bulkMessage(seqRecords(3))
	msg.SetError(errors.New("a processor failed on it"))
	_, intact, _ = BulkOf(msg)
	assert.False(t, intact, "a processor's error on it is a rewrite")
	_, _, ok = BulkOf(service.NewMessage([]byte("x")))
	assert.False(t, ok)
}

func seqRecords(n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(fmt.Sprint(i)), Offset: int64(i)}
	}
	return recs
}
