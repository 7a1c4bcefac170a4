package kafka

import (
	"context"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recordMeta builds messages from the records of one partition. Benthos keeps
// metadata as boxed values: the ones every record of the partition shares
// (topic, partition, and the timestamp of records produced in the same
// millisecond) are boxed once here, so that a message costs only what differs.
//
// Making a message per record is most of what the input itself costs when it
// does not deliver in bulk (kafka_franz -> drop, BenchmarkRecordMessages), and
// that cost is mostly allocations: what can be is allocated a slab at a time,
// the contexts that carry the positions and the bytes of the keys and header
// values.
type recordMeta struct {
	topic, partition any
	tsMs             int64
	tsUnixV, tsMsV   any

	pos        Position // topic, topic ID, partition and assignment of every record
	ctxs       []positionCtx
	text       []byte // the strings' bytes: only appended to, never rewritten
	background context.Context
}

// Slabs: 256 contexts (18 KiB) and 4 KiB of strings (a hundred order IDs); a
// string longer than textSlabMax is allocated by itself. A message kept keeps
// its slabs, as it kept the slab of positions before.
const (
	ctxSlab     = 256
	textSlab    = 4096
	textSlabMax = textSlab / 8
)

func newRecordMeta(topic string, partition int32, topicID [16]byte, assignment uint64) *recordMeta {
	return &recordMeta{
		topic: topic, partition: int(partition),
		pos:        Position{Topic: topic, TopicID: topicID, Partition: partition, Assignment: assignment},
		background: context.Background(),
	}
}

// positionCtx is the context of a record's message: it holds the position
// itself, where context.WithValue would allocate a context per record on top
// of the position.
type positionCtx struct {
	context.Context
	pos Position
}

func (c *positionCtx) Value(key any) any {
	if _, ok := key.(positionKey); ok {
		return &c.pos
	}
	return c.Context.Value(key)
}

// str returns b as a string whose bytes are in m's slab: no allocation per
// string. The slab's bytes are never written again once returned, so the
// string stays as immutable as any other.
func (m *recordMeta) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > textSlabMax {
		return string(b)
	}
	if cap(m.text)-len(m.text) < len(b) {
		m.text = make([]byte, 0, textSlab)
	}
	start := len(m.text)
	m.text = append(m.text, b...)
	return unsafe.String(&m.text[start], len(b))
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

	msg := service.NewMessageWithContext(c, r.Value)
	for _, h := range r.Headers {
		if _, reserved := reservedMeta[h.Key]; reserved {
			msg.MetaSetMut(HeaderPrefix+h.Key, m.str(h.Value))
			continue
		}
		msg.MetaSetMut(h.Key, m.str(h.Value))
	}
	if ms := r.Timestamp.UnixMilli(); m.tsMsV == nil || ms != m.tsMs {
		m.tsMs, m.tsMsV, m.tsUnixV = ms, ms, r.Timestamp.Unix()
	}
	msg.MetaSetMut(MetaKey, m.str(r.Key))
	msg.MetaSetMut(MetaTopic, m.topic)
	msg.MetaSetMut(MetaPartition, m.partition)
	msg.MetaSetMut(MetaOffset, int(r.Offset))
	msg.MetaSetMut(MetaTimestampUnix, m.tsUnixV)
	msg.MetaSetMut(MetaTimestampMs, m.tsMsV)
	msg.MetaSetMut(MetaTombstone, r.Value == nil)
	return msg
}
