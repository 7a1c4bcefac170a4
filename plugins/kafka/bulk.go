package kafka

import (
	"context"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// BulkTaker is a PartitionOwner that takes a partition's records in bulk:
// one message per batch, the records in its context (BulkOf), instead of one
// message per record. Benthos' per-message work (a message, its metadata, a
// tracing span) is most of what a record costs between the input and an
// aggregation that only reads its value and position; the owner builds a
// record's message itself when it needs one (RecordMessage).
type BulkTaker interface {
	PartitionOwner
	TakesBulk() bool
}

// Bulk is a run of consecutive fetched records of one partition, oldest first.
type Bulk struct {
	// Position is the records' topic, topic ID, partition and assignment;
	// its Offset is the first record's.
	Position Position
	Records  []*kgo.Record
}

type bulkKey struct{}

// bulkContent is the content of every bulk message. A processor between the
// input and the owner that changes it, as a mapping would, is noticed:
// BulkOf tells the message apart from one still as the input made it.
var bulkContent = []byte("kafka_franz: records in bulk for the stream's buffer, see kafka.BulkOf")

// BulkOf returns the records a bulk message carries. intact is false when the
// message carries records but its content is no longer the input's, or it is
// flagged with a processor's error, that is when something between the input
// and the caller rewrote it or failed on it: the records then do not say what
// the message holds.
func BulkOf(msg *service.Message) (b *Bulk, intact, ok bool) {
	b, ok = msg.Context().Value(bulkKey{}).(*Bulk)
	if !ok {
		return nil, false, false
	}
	data, err := msg.AsBytes()
	intact = err == nil && msg.GetError() == nil && len(data) == len(bulkContent) && unsafe.SliceData(data) == unsafe.SliceData(bulkContent)
	return b, intact, true
}

// bulkMessage makes the message that carries recs, records of m's partition.
func (m *recordMeta) bulkMessage(recs []*kgo.Record) *service.Message {
	b := &Bulk{Position: m.pos, Records: recs}
	b.Position.Offset = recs[0].Offset
	msg := service.NewMessage(bulkContent)
	msg.MetaSetMut(MetaTopic, m.topic)
	msg.MetaSetMut(MetaPartition, m.partition)
	return msg.WithContext(context.WithValue(m.background, bulkKey{}, b))
}

// BulkMessage makes the message kafka_franz delivers in bulk: recs are
// consecutive records of pos's partition read under pos's assignment.
func BulkMessage(pos Position, recs []*kgo.Record) *service.Message {
	return newRecordMeta(context.Background(), pos.Topic, pos.Partition, pos.TopicID, pos.Assignment).bulkMessage(recs)
}

// RecordMessage makes the message kafka_franz makes for rec when it does not
// deliver in bulk, at position pos (rec's offset): the same metadata, the
// position in its context. The message shares rec's key, value and header
// values, which must not be changed afterwards.
func RecordMessage(pos Position, rec *kgo.Record) *service.Message {
	m := newRecordMeta(context.Background(), pos.Topic, pos.Partition, pos.TopicID, pos.Assignment)
	m.ctxs = make([]positionCtx, 1) // one message: not a slab
	return m.message(rec)
}

// takesBulk reports whether o takes records in bulk.
func takesBulk(o PartitionOwner) bool {
	bt, ok := o.(BulkTaker)
	return ok && bt.TakesBulk()
}

// defaultBulkCount bounds a bulk when batching.count is not set.
const defaultBulkCount = 1024

// batchHasProcessors reports whether the batching policy has processors,
// which bulk delivery would skip.
func batchHasProcessors(conf *service.ParsedConfig) bool {
	if !conf.Contains(fieldBatching, "processors") {
		return false
	}
	procs, err := conf.FieldAnyList(fieldBatching, "processors")
	return err != nil || len(procs) > 0
}
