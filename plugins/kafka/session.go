package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// ackBatch is a batch of one partition with the function that releases it.
type ackBatch struct {
	batch   service.MessageBatch
	release func()

	// recs are the records the batch was made of, t their partition and
	// attempt how many times the batch was rejected.
	recs    []*kgo.Record
	t       *partitionTracker
	attempt int
}

// readerSession is one client and its fetch loop; a new one is made on reconnect.
type readerSession struct {
	r       *franzReader
	client  *kgo.Client
	batches chan ackBatch
	wake    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// clientReady is closed once client is set: the group's callbacks may
	// run before (kgo.NewClient starts joining).
	clientReady chan struct{}

	mu     sync.Mutex
	topics map[string]map[int32]*partitionTracker
	// With a PartitionOwner: the assignment of every assigned partition and
	// the topic ID it was assigned under.
	assigned map[string]map[int32]uint64
	topicIDs map[string][16]byte
	// checkRecreated's look-up: running, and when it last started.
	recheck     bool
	lastRecheck time.Time
}

func newReaderSession(r *franzReader) *readerSession {
	ctx, cancel := context.WithCancel(context.Background())
	return &readerSession{
		r:       r,
		batches: make(chan ackBatch),
		wake:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		topics:  map[string]map[int32]*partitionTracker{},

		clientReady: make(chan struct{}),

		assigned: map[string]map[int32]uint64{},
		topicIDs: map[string][16]byte{},
	}
}

func (s *readerSession) stop() {
	s.cancel()
}

// run polls the client until the session is stopped or the client fails, then
// commits what was acknowledged and closes the client.
func (s *readerSession) run() {
	defer close(s.done)
	defer func() {
		s.cancel()
		s.removeAll()
		close(s.batches)
		if s.r.group != "" {
			// The output acknowledged everything it will before Close, so this
			// commit includes every acknowledged message.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.client.CommitMarkedOffsets(ctx); err != nil {
				s.r.mCommitErrs.Incr(1)
				s.r.log.Error(fmt.Sprintf("Kafka offset commit on close failed: %v", err))
			}
			cancel()
		}
		s.client.Close()
	}()

	for {
		s.drainAll()
		if s.ctx.Err() != nil {
			return
		}
		fetches := s.poll()
		if s.ctx.Err() != nil {
			return
		}
		fatal := false
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if errors.Is(err, kgo.ErrClientClosed) {
				fatal = true
				return
			}
			s.r.mFetchErrs.Incr(1)
			if topic == "" {
				// A group or client level error is a notification: franz-go
				// keeps retrying on its own. Closing the client here would
				// leave a member behind in the group (its LeaveGroup fails
				// while the broker is down) and the next one would wait a
				// whole session_timeout for its partitions.
				s.r.limit.Errorf("Kafka consumer error (retrying; repeats are logged once a minute): %v", err)
				return
			}
			s.r.limit.Errorf("Kafka fetch error on topic %s partition %d (retrying; repeats are logged once a minute): %v", topic, partition, err)
			var loss *kgo.ErrDataLoss
			if errors.Is(err, kerr.OffsetOutOfRange) || errors.As(err, &loss) {
				s.positionLost(topic, partition, err)
			}
			if errors.Is(err, kerr.UnknownTopicID) {
				// The topic may have been deleted and created again: franz-go
				// keeps the old ID and fails, so ask the cluster.
				s.checkRecreated(topic)
			}
		})
		if fatal {
			return
		}
		s.checkTopicIDs(fetches)

		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err == nil {
				s.r.marks.Set(p.Topic, p.Partition, p.HighWatermark)
			}
			if len(p.Records) == 0 {
				return
			}
			var size int64
			for _, rec := range p.Records {
				size += int64(len(rec.Key) + len(rec.Value))
			}
			s.r.mConsumed.Incr(int64(len(p.Records)), p.Topic)
			s.r.mBytes.Incr(size, p.Topic)
			if t := s.tracker(p.Topic, p.Partition); t != nil {
				t.enqueue(p.Records)
			}
		})
		s.drainAll()
		if s.ctx.Err() != nil {
			return
		}
		s.updatePaused()
	}
}

// drainAll hands the fetched records downstream, per partition, as long as the
// partition has fewer than checkpoint_limit unacknowledged messages.
func (s *readerSession) drainAll() {
	s.mu.Lock()
	all := make([]*partitionTracker, 0, len(s.topics))
	for _, parts := range s.topics {
		for _, t := range parts {
			all = append(all, t)
		}
	}
	s.mu.Unlock()
	for _, t := range all {
		t.drain(s.ctx)
	}
}

// updatePaused stops fetching partitions that hold records they may not hand
// downstream yet, and resumes the others.
func (s *readerSession) updatePaused() {
	pause := map[string][]int32{}
	s.mu.Lock()
	for topic, parts := range s.topics {
		for p, t := range parts {
			if t.blocked() {
				pause[topic] = append(pause[topic], p)
			}
		}
	}
	s.mu.Unlock()

	resume := map[string][]int32{}
	for topic, parts := range s.client.PauseFetchPartitions(pause) {
		for _, p := range parts {
			if t := s.lookup(topic, p); t == nil || !t.blocked() {
				resume[topic] = append(resume[topic], p)
			}
		}
	}
	if len(resume) > 0 {
		s.client.ResumeFetchPartitions(resume)
	}
}

// poll waits for records, returning early when an acknowledgement makes room
// in a paused partition so that it can be resumed promptly.
func (s *readerSession) poll() kgo.Fetches {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.wake:
			cancel()
		case <-ctx.Done():
		}
	}()
	return s.client.PollFetches(ctx)
}

func (s *readerSession) notifyRoom() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// tracker returns the tracker of a partition, made on its first records.
// With a PartitionOwner, a partition that is not assigned (records polled
// just before a revocation) gets no tracker: nil, its records are dropped.
// The next assignment reads them again from where the owner says.
func (s *readerSession) tracker(topic string, partition int32) *partitionTracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.assigned[topic][partition]; !ok && s.r.group != "" && partitionOwner(s.r.mgr) != nil {
		if t := s.topics[topic][partition]; t != nil {
			return t
		}
		return nil
	}
	parts := s.topics[topic]
	if parts == nil {
		parts = map[int32]*partitionTracker{}
		s.topics[topic] = parts
	}
	t := parts[partition]
	if t == nil {
		t = newPartitionTracker(s, topic, partition, s.topicIDs[topic], s.assigned[topic][partition])
		parts[partition] = t
	}
	return t
}

func (s *readerSession) lookup(topic string, partition int32) *partitionTracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics[topic][partition]
}

func (s *readerSession) remove(m map[string][]int32) {
	s.mu.Lock()
	var gone []*partitionTracker
	for topic, parts := range m {
		for _, p := range parts {
			if t := s.topics[topic][p]; t != nil {
				gone = append(gone, t)
				delete(s.topics[topic], p)
			}
		}
		if len(s.topics[topic]) == 0 {
			delete(s.topics, topic)
		}
	}
	s.mu.Unlock()
	for _, t := range gone {
		t.close()
	}
}

func (s *readerSession) removeAll() {
	m := map[string][]int32{}
	s.mu.Lock()
	for topic, parts := range s.topics {
		for p := range parts {
			m[topic] = append(m[topic], p)
		}
	}
	s.mu.Unlock()
	s.remove(m)
}

func (s *readerSession) onCommitted(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		s.r.mCommitErrs.Incr(1)
		s.r.limit.Errorf("Kafka offset commit failed (repeats are logged once a minute): %v", err)
		return
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				s.r.mCommitErrs.Incr(1)
				s.r.limit.Errorf("Kafka offset commit failed on topic %s partition %d (repeats are logged once a minute): %v", t.Topic, p.Partition, err)
			}
		}
	}
}
