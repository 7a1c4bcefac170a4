package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recordMeta builds messages from the records of one partition. Benthos keeps
// metadata as boxed values: the ones every record of the partition shares
// (topic, partition, and the timestamp of records produced in the same
// millisecond) are boxed once here, so that a message costs only what differs.
type recordMeta struct {
	topic, partition any
	tsMs             int64
	tsUnixV, tsMsV   any

	pos        Position   // topic, topic ID, partition and assignment of every record
	positions  []Position // allocated a slab at a time
	background context.Context
}

func newRecordMeta(topic string, partition int32, topicID [16]byte, assignment uint64) *recordMeta {
	return &recordMeta{
		topic: topic, partition: int(partition),
		pos:        Position{Topic: topic, TopicID: topicID, Partition: partition, Assignment: assignment},
		background: context.Background(),
	}
}

// message converts a record, keeping the metadata Redpanda Connect sets. The
// headers go first, so that none can stand in for the position the broker
// reported: a header named like one of the input's own keys is kept as
// kafka_header_<name>. The position also goes in the message's context
// (PositionOf), out of reach of metadata processors.
func (m *recordMeta) message(r *kgo.Record) *service.Message {
	msg := service.NewMessage(r.Value)
	for _, h := range r.Headers {
		if _, reserved := reservedMeta[h.Key]; reserved {
			msg.MetaSetMut(HeaderPrefix+h.Key, string(h.Value))
			continue
		}
		msg.MetaSetMut(h.Key, string(h.Value))
	}
	if ms := r.Timestamp.UnixMilli(); m.tsMsV == nil || ms != m.tsMs {
		m.tsMs, m.tsMsV, m.tsUnixV = ms, ms, r.Timestamp.Unix()
	}
	msg.MetaSetMut(MetaKey, string(r.Key))
	msg.MetaSetMut(MetaTopic, m.topic)
	msg.MetaSetMut(MetaPartition, m.partition)
	msg.MetaSetMut(MetaOffset, int(r.Offset))
	msg.MetaSetMut(MetaTimestampUnix, m.tsUnixV)
	msg.MetaSetMut(MetaTimestampMs, m.tsMsV)
	msg.MetaSetMut(MetaTombstone, r.Value == nil)
	if len(m.positions) == 0 {
		m.positions = make([]Position, 256)
	}
	p := &m.positions[0]
	m.positions = m.positions[1:]
	*p = m.pos
	p.Offset = r.Offset
	return msg.WithContext(context.WithValue(m.background, positionKey{}, p))
}
