package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// onRevoked commits what was acknowledged before the partitions go to another
// member, so the new owner starts right after it.
func (s *readerSession) onRevoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.r.mCommitErrs.Incr(1)
		s.r.log.Error(fmt.Sprintf("Kafka offset commit on partition revoke (%v) failed: %v", m, err))
	}
	s.unassign(m)
}

func (s *readerSession) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.r.log.Warn(fmt.Sprintf("Kafka partitions lost without a chance to commit: %v", m))
	s.unassign(m)
}

// unassign forgets partitions, and their trackers, and tells the
// PartitionOwner, if any. The assignment goes first, under the lock that
// tracker takes, so that a fetch polled before the revocation cannot make a
// tracker for them again.
func (s *readerSession) unassign(m map[string][]int32) {
	owner := partitionOwner(s.r.mgr)
	s.mu.Lock()
	for topic, parts := range m {
		for _, p := range parts {
			delete(s.assigned[topic], p)
		}
	}
	s.mu.Unlock()
	s.remove(m)
	if owner == nil {
		return
	}
	for topic, parts := range m {
		owner.Revoke(topic, parts)
	}
}

// adjustOffsets replaces the group's committed offsets of newly assigned
// partitions with the positions the PartitionOwner keeps, when there is one:
// the group's offsets are then only for lag tools, never the truth.
func (s *readerSession) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return offsets, nil
	}
	names := make([]string, 0, len(offsets))
	for topic := range offsets {
		names = append(names, topic)
	}
	// The group may assign partitions before Connect has set the client.
	select {
	case <-s.clientReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ids, err := topicIDs(ctx, s.client, names)
	if err != nil {
		return nil, err
	}
	for topic, parts := range offsets {
		ps := make([]int32, 0, len(parts))
		for p := range parts {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		starts, err := owner.Assign(ctx, topic, ids[topic], ps)
		if err != nil {
			s.r.limit.Errorf("Kafka partitions %s %v not read (the group retries; repeats are logged once a minute): %v", topic, ps, err)
			return nil, err
		}
		s.mu.Lock()
		s.topicIDs[topic] = ids[topic]
		if s.assigned[topic] == nil {
			s.assigned[topic] = map[int32]uint64{}
		}
		for _, p := range ps {
			st := starts[p]
			s.assigned[topic][p] = st.Assignment
			if st.FromBeginning {
				parts[p] = kgo.NewOffset().AtStart()
			} else {
				parts[p] = kgo.NewOffset().At(st.Offset)
			}
		}
		s.mu.Unlock()
	}
	return offsets, nil
}

// positionLost tells the PartitionOwner that a partition's position is gone
// from the broker; when the topic now has another ID, that it was recreated,
// which says more.
func (s *readerSession) positionLost(topic string, partition int32, err error) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return
	}
	s.mu.Lock()
	was, ok := s.topicIDs[topic]
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if ids, lerr := topicIDs(ctx, s.client, []string{topic}); lerr == nil && ok {
		if now := ids[topic]; now != ([16]byte{}) && now != was {
			owner.TopicIDChanged(topic, was, now)
			return
		}
	}
	owner.PositionLost(topic, partition, err)
}

// checkRecreated asks the cluster for topic's ID after a fetch failed with
// UNKNOWN_TOPIC_ID, and tells the PartitionOwner when it is not the ID the
// partitions were assigned under. At most one look-up runs, every 2s at most.
func (s *readerSession) checkRecreated(topic string) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return
	}
	s.mu.Lock()
	was, ok := s.topicIDs[topic]
	busy := s.recheck || time.Since(s.lastRecheck) < 2*time.Second
	if !busy {
		s.recheck, s.lastRecheck = true, time.Now()
	}
	s.mu.Unlock()
	if !ok || busy {
		return
	}
	go func() {
		defer func() {
			s.mu.Lock()
			s.recheck = false
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		ids, err := topicIDs(ctx, s.client, []string{topic})
		if err != nil {
			return
		}
		if now, ok := ids[topic]; ok && now != ([16]byte{}) && now != was {
			owner.TopicIDChanged(topic, was, now)
		}
	}()
}

// checkTopicIDs tells the PartitionOwner when a fetch comes from a topic
// whose ID is not the one its partitions were assigned under.
func (s *readerSession) checkTopicIDs(fetches kgo.Fetches) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return
	}
	for _, f := range fetches {
		for _, t := range f.Topics {
			if t.TopicID == ([16]byte{}) {
				continue
			}
			s.mu.Lock()
			was, ok := s.topicIDs[t.Topic]
			s.mu.Unlock()
			if ok && was != ([16]byte{}) && was != t.TopicID {
				owner.TopicIDChanged(t.Topic, was, t.TopicID)
			}
		}
	}
}
