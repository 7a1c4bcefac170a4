package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recordBatcher batches the messages of one partition under the input's
// batching policy.
type recordBatcher interface {
	// Add adds a message and reports whether the batch should be flushed.
	Add(msg *service.Message) bool
	// Flush returns the batch so far (nil when empty) and starts the next;
	// it restarts the period even when the batch was empty.
	Flush(ctx context.Context) (service.MessageBatch, error)
	// untilNext is how long until the period flushes the batch, zero or
	// less when it is due; timed is false for a policy without a period.
	untilNext() (wait time.Duration, timed bool)
	Close(ctx context.Context) error
}

// newBatcher makes the batcher of one partition: countBatcher for a policy
// of count, byte_size and period alone, Benthos' own for one with a check or
// batching processors.
func (r *franzReader) newBatcher() (recordBatcher, error) {
	if r.plainBatching {
		return newCountBatcher(r.batchPolicy, r.mBatches)
	}
	b, err := r.batchPolicy.NewBatcher(r.mgr)
	if err != nil {
		return nil, err
	}
	return policyBatcher{b}, nil
}

// policyBatcher is Benthos' batcher.
type policyBatcher struct{ *service.Batcher }

// untilNext: Benthos reports a period that is due as 1ns to go.
func (p policyBatcher) untilNext() (time.Duration, bool) { return p.UntilNext() }

// batchMechanisms are the label values of batch_created, as Benthos counts
// the batches its policies make (under the input's path, where Benthos'
// batcher counts under the input's path plus "batching").
var batchMechanisms = [...]string{"count", "size", "period"}

// countBatcher does what Benthos' batcher does for a policy of count,
// byte_size and period, for what it costs a partition of the floor's records:
// Benthos' wraps every message in and out of its internal form, allocating a
// message again per record, and reads the clock at every one.
type countBatcher struct {
	count, byteSize int
	period          time.Duration

	msgs      service.MessageBatch // nil when records are counted (addRecord)
	n, size   int                  // messages or records, and their bytes
	triggered bool
	last      time.Time
	created   *service.MetricCounter // batch_created, by mechanism; may be nil
}

// clockEvery is how many messages Add lets pass between two looks at the
// clock for the period; the flush loop flushes on time regardless.
const clockEvery = 64

func newCountBatcher(p service.BatchPolicy, created *service.MetricCounter) (*countBatcher, error) {
	b := &countBatcher{count: p.Count, byteSize: p.ByteSize, last: time.Now(), created: created}
	if p.Period != "" {
		d, err := time.ParseDuration(p.Period)
		if err != nil {
			return nil, fmt.Errorf("batching period %q: %w", p.Period, err)
		}
		b.period = d
	}
	return b, nil
}

func (b *countBatcher) incr(mechanism int) {
	if b.created != nil {
		b.created.Incr(1, batchMechanisms[mechanism])
	}
}

func (b *countBatcher) Add(msg *service.Message) bool {
	if b.msgs == nil && b.count > 0 {
		b.msgs = make(service.MessageBatch, 0, min(b.count, 1024))
	}
	b.msgs = append(b.msgs, msg)
	size := 0
	if b.byteSize > 0 {
		if data, err := msg.AsBytes(); err == nil {
			size = len(data)
		}
	}
	return b.added(size)
}

// addRecord counts a record whose message is made later, when the batch is
// read (partitionTracker.lazy), as Add counts a message of size bytes.
func (b *countBatcher) addRecord(size int) bool { return b.added(size) }

// added applies the policy to one more message of size bytes and reports
// whether the batch is due.
func (b *countBatcher) added(size int) bool {
	b.n++
	b.size += size
	if !b.triggered && b.count > 0 && b.n >= b.count {
		b.triggered = true
		b.incr(0)
	}
	if !b.triggered && b.byteSize > 0 && b.size >= b.byteSize {
		b.triggered = true
		b.incr(1)
	}
	return b.triggered || (b.period > 0 && b.n%clockEvery == 1 && time.Since(b.last) > b.period)
}

func (b *countBatcher) Flush(context.Context) (service.MessageBatch, error) {
	batch := b.msgs
	if b.n > 0 && !b.triggered && b.period > 0 && time.Since(b.last) > b.period {
		b.incr(2)
	}
	b.msgs, b.n, b.size, b.triggered, b.last = nil, 0, 0, false, time.Now()
	if len(batch) == 0 {
		return nil, nil
	}
	return batch, nil
}

func (b *countBatcher) untilNext() (time.Duration, bool) {
	if b.period <= 0 {
		return 0, false
	}
	return b.period - time.Since(b.last), true
}

func (b *countBatcher) Close(context.Context) error { return nil }
