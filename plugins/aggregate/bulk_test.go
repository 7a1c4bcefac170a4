package aggregate

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
)

// TestBulkCountsAsPerRecord: the same records, some invalid, delivered in
// bulk and one message each, give the same totals and the same rejected
// records, with the same metadata.
func TestBulkCountsAsPerRecord(t *testing.T) {
	data, _ := encodedOrders(300, 7)
	data[3] = []byte(`{"id_ordem":`)
	data[150] = []byte(`not json`)
	data[299] = []byte(`{}`)
	recs := make([]*kgo.Record, len(data))
	for i, d := range data {
		recs[i] = &kgo.Record{Key: []byte{byte(i)}, Value: d, Topic: testTopic, Offset: int64(i),
			Headers: []kgo.RecordHeader{{Key: "kafka_offset", Value: []byte("spoofed")}}}
	}
	run := func(bulk bool) (*Snapshot, []*service.Message) {
		b := newTestBuffer(t, "interval: 0s")
		ctx := context.Background()
		starts, err := b.Assign(ctx, testTopic, [16]byte{1}, []int32{0})
		require.NoError(t, err)
		pos := kafka.Position{Topic: testTopic, TopicID: [16]byte{1}, Assignment: starts[0].Assignment}
		acks := newAckRecorder()
		for from := 0; from < len(recs); from += 64 {
			to := min(from+64, len(recs))
			var batch service.MessageBatch
			if bulk {
				batch = service.MessageBatch{kafka.BulkMessage(pos, recs[from:to])}
			} else {
				for _, rec := range recs[from:to] {
					p := pos
					p.Offset = rec.Offset
					batch = append(batch, kafka.RecordMessage(p, rec))
				}
			}
			require.NoError(t, b.WriteBatch(ctx, batch, acks.fn(nil)))
		}
		acks.wait(t, (len(recs)+63)/64)
		b.EndOfInput()
		snaps, rejected := readAll(t, b)
		require.NotEmpty(t, snaps)
		return snaps[len(snaps)-1], rejected
	}
	perRecord, wantRejected := run(false)
	bulk, gotRejected := run(true)
	assert.Equal(t, int64(297), bulk.Orders)
	assert.Equal(t, int64(3), bulk.Rejected)
	assert.Equal(t, perRecord.Orders, bulk.Orders)
	assert.Equal(t, perRecord.Value, bulk.Value)
	assert.Equal(t, productsMap(perRecord.Products), productsMap(bulk.Products))
	assert.Equal(t, perRecord.Offsets, bulk.Offsets)
	require.Len(t, gotRejected, 3)
	require.Len(t, wantRejected, 3)
	for i := range gotRejected {
		want, got := map[string]any{}, map[string]any{}
		require.NoError(t, wantRejected[i].MetaWalkMut(func(k string, v any) error { want[k] = v; return nil }))
		require.NoError(t, gotRejected[i].MetaWalkMut(func(k string, v any) error { got[k] = v; return nil }))
		assert.Equal(t, want, got)
		assert.NotEmpty(t, got[MetaRejectedReason])
		assert.Equal(t, "spoofed", got[kafka.HeaderPrefix+"kafka_offset"])
		w, _ := wantRejected[i].AsBytes()
		g, _ := gotRejected[i].AsBytes()
		assert.Equal(t, string(w), string(g))
	}
}

// TestRewrittenBulkIsRefused: a bulk message a processor rewrote would
// count records that are not what the message holds: it stops the process.
func TestRewrittenBulkIsRefused(t *testing.T) {
	exited := make(chan int, 1)
	was := exitProcess
	exitProcess = func(code int) { exited <- code }
	t.Cleanup(func() { exitProcess = was })

	b := newTestBuffer(t, "interval: 0s")
	data, _ := encodedOrders(2, 1)
	msg := kafka.BulkMessage(kafka.Position{Topic: testTopic}, []*kgo.Record{{Value: data[0]}, {Value: data[1], Offset: 1}})
	msg.SetBytes([]byte(`{"rewritten":true}`))
	err := b.WriteBatch(context.Background(), service.MessageBatch{msg}, newAckRecorder().fn(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bulk: false")
	assert.Equal(t, 3, <-exited)
}
