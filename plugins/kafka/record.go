package kafka

import (
	"context"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recordMeta builds messages from the records of one partition. Benthos keeps
// metadata as boxed values: the ones every record of the partition shares
// (topic, partition, and the timestamp of records produced in the same
// millisecond) are boxed once here, so that a message costs only what differs.
//
// Making a message per record is most of what the input itself costs when it
// does not deliver in bulk (kafka_franz -> drop, BenchmarkRecordMessages), and
// that cost is mostly allocations and reading the record: the contexts that
// carry the positions are allocated a slab at a time and hold the values of
// kafka_key and kafka_offset too (boxedAt), and the key and header values
// are not copied (sharedString).
type recordMeta struct {
	topic, partition any
	tsMs             int64
	tsUnixV, tsMsV   any

	pos        Position // topic, topic ID, partition and assignment of every record
	ctxs       []positionCtx
	background context.Context
}

// ctxSlab contexts (18 KiB) are allocated at once; a message kept keeps its
// slab, as it kept the slab of positions before.
const ctxSlab = 256

// newRecordMeta makes the messages of one partition; background is the
// parent of their contexts (recordBackground).
func newRecordMeta(background context.Context, topic string, partition int32, topicID [16]byte, assignment uint64) *recordMeta {
	return &recordMeta{
		topic: topic, partition: int(partition),
		pos:        Position{Topic: topic, TopicID: topicID, Partition: partition, Assignment: assignment},
		background: background,
	}
}

// untraced is the parent of a record message's context when Benthos traces
// nothing (tracer: none, its default). Benthos starts a span for every
// message the input returns and again for every message an output or a
// processor takes; with no tracer each start is a no-op that still
// allocates a context holding the no-op span, two of the floor's twelve
// allocations per record. A context that already holds a span context which
// is not recording makes the no-op tracer hand the context back as it is.
// This one is empty but for its remote flag (no trace or span ID, so not
// valid): nothing is propagated from it, and a trace ID read from the
// message is all zeros, as it was without it.
var untraced = trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContext{})

// recordBackground is the parent of the contexts of the messages made for
// mgr's stream: untraced when its tracer is the no-op one, else a context
// without a span, where a real tracer starts each message's trace.
func recordBackground(mgr *service.Resources) context.Context {
	if mgr != nil {
		if _, ok := mgr.OtelTracer().(noop.TracerProvider); ok {
			return untraced
		}
	}
	return context.Background()
}

// positionCtx is the context of a record's message: it holds the position
// itself, where context.WithValue would allocate a context per record on top
// of the position.
type positionCtx struct {
	context.Context
	pos Position
	// The values of kafka_key and kafka_offset, which the message's metadata
	// points at (boxedAt) rather than each boxed in an allocation of its own.
	key    string
	offset int
}

// eface is how Go lays out an interface value of type any.
type eface struct {
	typ, data unsafe.Pointer
}

// boxedAt returns the interface value holding *p, pointing at p where a
// conversion to any would copy *p into an allocation. *p must never change
// afterwards: an interface value's contents are immutable, and the slab
// entries p points into are used once.
func boxedAt[T string | int](p *T) any {
	var v any = *new(T)
	(*eface)(unsafe.Pointer(&v)).data = unsafe.Pointer(p)
	return v
}

func (c *positionCtx) Value(key any) any {
	if _, ok := key.(positionKey); ok {
		return &c.pos
	}
	return c.Context.Value(key)
}

// sharedString returns b as a string without copying it. A record's key and
// header values stay where franz-go decoded them, in the fetched batch that
// the message's content, the record's value, already points into: copying a
// key cost a tenth of the floor's CPU, most of it a cache miss on bytes
// nothing else reads. Those bytes are never written again, which the content
// relies on already: the input gives franz-go no buffer pool (kgo.WithPools)
// and only reads its records, and RecordMessage's callers must leave a
// record's bytes alone likewise. A key kept after the content was replaced
// keeps the batch's memory, as the content did.
func sharedString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// messages converts the records of a batch, oldest first.
func (m *recordMeta) messages(recs []*kgo.Record) service.MessageBatch {
	batch := make(service.MessageBatch, len(recs))
	for i, rec := range recs {
		batch[i] = m.message(rec)
	}
	return batch
}

// message converts a record, keeping the metadata Redpanda Connect sets. The
// headers go first, so that none can stand in for the position the broker
// reported: a header named like one of the input's own keys is kept as
// kafka_header_<name>. The position also goes in the message's context
// (PositionOf), out of reach of metadata processors.
func (m *recordMeta) message(r *kgo.Record) *service.Message {
	if len(m.ctxs) == 0 {
		m.ctxs = make([]positionCtx, ctxSlab)
	}
	c := &m.ctxs[0]
	m.ctxs = m.ctxs[1:]
	c.Context, c.pos = m.background, m.pos
	c.pos.Offset = r.Offset
	c.key, c.offset = sharedString(r.Key), int(r.Offset)

	msg := service.NewMessageWithContext(c, r.Value)
	for _, h := range r.Headers {
		if _, reserved := reservedMeta[h.Key]; reserved {
			msg.MetaSetMut(HeaderPrefix+h.Key, sharedString(h.Value))
			continue
		}
		msg.MetaSetMut(h.Key, sharedString(h.Value))
	}
	if ms := r.Timestamp.UnixMilli(); m.tsMsV == nil || ms != m.tsMs {
		m.tsMs, m.tsMsV, m.tsUnixV = ms, ms, r.Timestamp.Unix()
	}
	msg.MetaSetMut(MetaKey, boxedAt(&c.key))
	msg.MetaSetMut(MetaTopic, m.topic)
	msg.MetaSetMut(MetaPartition, m.partition)
	msg.MetaSetMut(MetaOffset, boxedAt(&c.offset))
	msg.MetaSetMut(MetaTimestampUnix, m.tsUnixV)
	msg.MetaSetMut(MetaTimestampMs, m.tsMsV)
	msg.MetaSetMut(MetaTombstone, r.Value == nil)
	return msg
}
