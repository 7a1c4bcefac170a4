package kafka

import (
	"fmt"

	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Position is where a message was read, as the broker reported it. The input
// puts it in the message's context, where no record header can reach it:
// metadata is for people and pipelines, the position is for exactly-once
// state.
type Position struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
	Offset    int64
	// Assignment numbers the assignment of the partition the record was read
	// under, as returned by a PartitionOwner (0 without one). A record read
	// under an older assignment is stale.
	Assignment uint64
}

type positionKey struct{}

// PositionOf returns the position the kafka_franz input stored in a message,
// or false for a message that did not come from it.
func PositionOf(msg *service.Message) (*Position, bool) {
	p, ok := msg.Context().Value(positionKey{}).(*Position)
	return p, ok
}

// WithPosition returns msg carrying p in its context, as the input makes
// them; for tests and for inputs that know where a record was read.
func WithPosition(msg *service.Message, p *Position) *service.Message {
	return msg.WithContext(context.WithValue(context.Background(), positionKey{}, p))
}

// Start is where an assigned partition is read from.
type Start struct {
	// Offset is the next offset to read; kgo's start of the log when
	// FromBeginning is set.
	Offset        int64
	FromBeginning bool
	// Assignment tags every record read under this assignment.
	Assignment uint64
}

// PartitionOwner keeps state per partition and so decides where each
// partition is read from. A component of the same stream registers one with
// SetPartitionOwner; the kafka_franz input with a consumer group then asks it
// on every assignment, instead of trusting the group's committed offsets, and
// tells it about every revocation.
type PartitionOwner interface {
	// Assign is called for newly assigned partitions before they are read.
	// An error stops reading them (the input logs it and the owner is
	// expected to stop the process).
	Assign(ctx context.Context, topic string, topicID [16]byte, partitions []int32) (map[int32]Start, error)
	// Revoke is called when partitions are revoked or lost.
	Revoke(topic string, partitions []int32)
	// TopicIDChanged is called when a fetch shows a topic ID other than
	// the one its partitions were assigned under: the topic was deleted
	// and created again.
	TopicIDChanged(topic string, was, now [16]byte)
	// PositionLost is called when the broker no longer has the position a
	// partition is read from (offset out of range, or records lost): the
	// input never moves it elsewhere by itself when it has an owner.
	PositionLost(topic string, partition int32, err error)
}

// InputInfo is what the kafka_franz input of a stream tells the other
// components of the stream about itself.
type InputInfo struct {
	// Group is the consumer group, empty without one.
	Group string
	// Topics are the topics read.
	Topics []string
	// ConnOpts connect a client to the same cluster (seed brokers, SASL,
	// TLS), so a component need not repeat them.
	ConnOpts []kgo.Opt
	// HighWatermarks are those of the partitions the input fetches.
	HighWatermarks *HighWatermarks
	// CheckpointLimit is checkpoint_limit: from this many records of a
	// partition handed over and not acknowledged on, the input hands over
	// no more of it (0: not known).
	CheckpointLimit int
}

// rendezvous joins the input and a PartitionOwner of one stream, whichever
// is built first.
type rendezvous struct {
	mu    sync.Mutex
	input *InputInfo
	owner PartitionOwner
}

type rendezvousKey struct{}

func streamRendezvous(mgr *service.Resources) *rendezvous {
	v, _ := mgr.GetOrSetGeneric(rendezvousKey{}, &rendezvous{})
	return v.(*rendezvous)
}

// SetPartitionOwner registers the PartitionOwner of the stream mgr belongs to.
func SetPartitionOwner(mgr *service.Resources, o PartitionOwner) {
	rv := streamRendezvous(mgr)
	rv.mu.Lock()
	rv.owner = o
	rv.mu.Unlock()
}

// StreamInput returns what the kafka_franz input of the stream registered, or
// nil when the stream has no such input (or it is built later).
func StreamInput(mgr *service.Resources) *InputInfo {
	rv := streamRendezvous(mgr)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.input
}

// RegisterInput tells the other components of mgr's stream about a Kafka
// input; kafka_franz calls it, as may another input that reads Kafka.
func RegisterInput(mgr *service.Resources, info *InputInfo) {
	rv := streamRendezvous(mgr)
	rv.mu.Lock()
	rv.input = info
	rv.mu.Unlock()
}

func partitionOwner(mgr *service.Resources) PartitionOwner {
	rv := streamRendezvous(mgr)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.owner
}

// reservedMeta are the metadata keys the input sets itself; a record header
// with one of these names is kept as HeaderPrefix+name instead.
var reservedMeta = map[string]struct{}{
	MetaKey: {}, MetaTopic: {}, MetaPartition: {}, MetaOffset: {},
	MetaTimestampUnix: {}, MetaTimestampMs: {}, MetaTombstone: {},
}

// HeaderPrefix renames a record header that has the name of a metadata key
// the input sets (kafka_offset becomes kafka_header_kafka_offset).
const HeaderPrefix = "kafka_header_"

// topicIDs returns the IDs of topics, as the cluster's metadata gives them.
func topicIDs(ctx context.Context, cl *kgo.Client, topics []string) (map[string][16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("reading the metadata of %v: %w", topics, err)
	}
	ids := make(map[string][16]byte, len(topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("reading the metadata of topic %s: %w", *t.Topic, err)
		}
		ids[*t.Topic] = t.TopicID
	}
	return ids, nil
}

// TopicIDs returns the IDs of topics, as the cluster's metadata gives them.
func TopicIDs(ctx context.Context, cl *kgo.Client, topics ...string) (map[string][16]byte, error) {
	return topicIDs(ctx, cl, topics)
}
