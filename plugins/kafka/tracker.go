package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// partitionTracker batches the records of one partition and checkpoints them.
type partitionTracker struct {
	s         *readerSession
	topic     string
	partition int32

	// meta makes the partition's messages: in the fetch loop, or with lazy
	// in ReadBatch (meta.messages), never in both.
	meta *recordMeta
	// bulk: records go downstream in bulk messages (BulkOf), no batcher.
	bulk bool
	// lazy: batches go downstream as records and ReadBatch makes their
	// messages (no batching policy, or count, byte_size and period alone),
	// so that the fetch loop, the busiest goroutine of a plain kafka_franz,
	// hands that work to the goroutine that reads the batches, which mostly
	// waited for it.
	lazy    bool
	counter *countBatcher // the batcher when lazy, nil without one

	// sendMu keeps flushing, tracking and sending in offset order.
	sendMu  sync.Mutex
	batcher recordBatcher
	held    []*kgo.Record // the records of the messages the batcher holds

	// backlog holds fetched records waiting for room under checkpoint_limit;
	// only the fetch loop touches it.
	backlog []*kgo.Record

	cpMu   sync.Mutex
	cp     checkpointer[*kgo.Record]
	closed bool

	stopFlush chan struct{}
	flushDone chan struct{}
}

func newPartitionTracker(s *readerSession, topic string, partition int32, topicID [16]byte, assignment uint64) *partitionTracker {
	t := &partitionTracker{
		s:         s,
		topic:     topic,
		partition: partition,
		meta:      newRecordMeta(s.r.background, topic, partition, topicID, assignment),
		bulk:      s.r.bulk,
		stopFlush: make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	if !t.bulk && !s.r.batchPolicy.IsNoop() {
		b, err := s.r.newBatcher()
		if err != nil {
			s.r.log.Error(fmt.Sprintf("Failed to create the batching policy for topic %s partition %d, delivering messages one by one: %v", topic, partition, err))
		} else {
			t.batcher = b
		}
	}
	if !t.bulk {
		t.counter, _ = t.batcher.(*countBatcher)
		t.lazy = t.batcher == nil || t.counter != nil
	}
	if t.batcher != nil {
		go t.flushLoop()
	} else {
		close(t.flushDone)
	}
	return t
}

func (t *partitionTracker) enqueue(recs []*kgo.Record) {
	t.backlog = append(t.backlog, recs...)
}

// drain hands backlog records to the batcher, or downstream when there is no
// batching, until the partition is full. It blocks while the pipeline is busy,
// which is the back pressure.
func (t *partitionTracker) drain(ctx context.Context) {
	if t.bulk {
		t.drainBulk(ctx)
		return
	}
	for len(t.backlog) > 0 && !t.full() && ctx.Err() == nil {
		rec := t.backlog[0]
		t.backlog[0] = nil
		t.backlog = t.backlog[1:]
		t.add(ctx, rec)
	}
	if len(t.backlog) == 0 {
		t.backlog = nil
	}
}

// drainBulk hands the backlog downstream in bulk messages of at most
// bulkCount records (and about bulkBytes, when set): what a fetch brought is
// sent at once, so no period is waited for.
func (t *partitionTracker) drainBulk(ctx context.Context) {
	for len(t.backlog) > 0 && !t.full() && ctx.Err() == nil {
		n := min(len(t.backlog), t.s.r.bulkCount)
		if limit := t.s.r.bulkBytes; limit > 0 {
			size := 0
			for i, rec := range t.backlog[:n] {
				if size += len(rec.Key) + len(rec.Value); size >= limit {
					n = i + 1
					break
				}
			}
		}
		recs := t.backlog[:n:n]
		t.backlog = t.backlog[n:]
		t.sendMu.Lock()
		t.send(ctx, service.MessageBatch{t.meta.bulkMessage(recs)}, recs, int64(n))
		t.sendMu.Unlock()
	}
	if len(t.backlog) == 0 {
		t.backlog = nil
	}
}

func (t *partitionTracker) add(ctx context.Context, rec *kgo.Record) {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.lazy {
		if t.counter == nil {
			t.send(ctx, nil, []*kgo.Record{rec}, 1)
			return
		}
		t.held = append(t.held, rec)
		if t.counter.add(len(rec.Value)) {
			t.flushLocked(ctx)
		}
		return
	}
	// Not lazy: Benthos' batcher, for a check or batching processors.
	t.held = append(t.held, rec)
	if t.batcher.(policyBatcher).Add(t.meta.message(rec)) {
		t.flushLocked(ctx)
	}
}

// flushLocked sends what the batcher holds; sendMu must be held.
func (t *partitionTracker) flushLocked(ctx context.Context) {
	batch, err := t.batcher.Flush(ctx)
	if err != nil {
		t.s.r.log.Error(fmt.Sprintf("Batching processors failed on topic %s partition %d: %v", t.topic, t.partition, err))
	}
	recs := t.held
	t.held = make([]*kgo.Record, 0, len(recs))
	if t.lazy {
		// The messages are made when the batch is read (ReadBatch).
		if len(recs) > 0 {
			t.send(ctx, nil, recs, int64(len(recs)))
		}
		return
	}
	if len(batch) == 0 || len(recs) == 0 {
		return
	}
	t.send(ctx, batch, recs, int64(len(batch)))
}

// send hands a batch downstream; recs are the records it was made of, oldest
// first, kept to make the batch again if it is rejected, and n what it counts
// for under checkpoint_limit (its messages, or its records in bulk). A nil
// batch is lazy: ReadBatch makes it from recs.
func (t *partitionTracker) send(ctx context.Context, batch service.MessageBatch, recs []*kgo.Record, n int64) {
	t.cpMu.Lock()
	release := t.cp.Track(recs[len(recs)-1], n)
	t.cpMu.Unlock()

	ab := ackBatch{batch: batch, recs: recs, t: t, release: func() {
		t.cpMu.Lock()
		wasFull := t.cp.Pending() >= t.s.r.checkpointLimit
		rec, ok := release()
		room := !t.closed && wasFull && t.cp.Pending() < t.s.r.checkpointLimit
		t.cpMu.Unlock()
		if ok && t.s.r.group != "" {
			t.s.client.MarkCommitRecords(rec)
		}
		if room {
			// Let the fetch loop hand over the backlog and resume fetching.
			t.s.notifyRoom()
		}
	}}
	select {
	case t.s.batches <- ab:
	case <-ctx.Done():
		// Shutting down: the batch was never delivered, so it is never
		// released and its offset is never committed.
	}
}

func (t *partitionTracker) isClosed() bool {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	return t.closed
}

// full reports whether the partition reached checkpoint_limit unacknowledged
// messages (a batch flushed by the batching policy may overshoot it), or was
// revoked, so that nothing more is handed over.
func (t *partitionTracker) full() bool {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	return t.closed || t.cp.Pending() >= t.s.r.checkpointLimit
}

// blocked reports whether fetching from the partition must pause: it is full
// or still holds fetched records it could not hand over.
func (t *partitionTracker) blocked() bool {
	return len(t.backlog) > 0 || t.full()
}

func (t *partitionTracker) flushLoop() {
	defer close(t.flushDone)
	for {
		t.sendMu.Lock()
		wait, timed := t.batcher.untilNext()
		t.sendMu.Unlock()
		if !timed {
			<-t.stopFlush
			return
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-timer.C:
			t.sendMu.Lock()
			if next, _ := t.batcher.untilNext(); next <= time.Millisecond {
				t.flushLocked(t.s.ctx)
			}
			t.sendMu.Unlock()
		case <-t.stopFlush:
			timer.Stop()
			return
		}
	}
}

// close stops the flush loop; records still held by the batcher were never
// delivered, so they are not committed and will be read again.
func (t *partitionTracker) close() {
	t.cpMu.Lock()
	t.closed = true
	t.cpMu.Unlock()
	close(t.stopFlush)
	<-t.flushDone
	if t.batcher != nil {
		_ = t.batcher.Close(context.Background())
	}
}
