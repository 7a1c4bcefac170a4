package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// recordBatcher batches one partition under the input's batching policy:
// countBatcher counts records, whose messages are made when the batch is read
// (partitionTracker.lazy); Benthos' batcher (policyBatcher) holds messages.
type recordBatcher interface {
	// Flush returns the messages held so far (nil when empty, and always
	// for countBatcher) and starts the next batch; it restarts the period
	// even when the batch was empty.
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

// countBatcher applies Benthos' rules for a policy of count, byte_size and
// period to records, before their messages are made: Benthos' batcher wraps
// every message in and out of its internal form, allocating a message again
// per record, and reads the clock at every one.
type countBatcher struct {
	count, byteSize int
	period          time.Duration

	n, size   int // records in the batch, and the bytes of their values
	triggered bool
	last      time.Time
	created   *service.MetricCounter // batch_created, by mechanism; may be nil
}

// clockEvery is how many records add lets pass between two looks at the
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

// add counts one more record of size bytes (its value, what byte_size counts
// of a message) and reports whether the batch is due.
func (b *countBatcher) add(size int) bool {
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

// Flush starts the next batch; the records counted are the caller's.
func (b *countBatcher) Flush(context.Context) (service.MessageBatch, error) {
	if b.n > 0 && !b.triggered && b.period > 0 && time.Since(b.last) > b.period {
		b.incr(2)
	}
	b.n, b.size, b.triggered, b.last = 0, 0, false, time.Now()
	return nil, nil
}

func (b *countBatcher) untilNext() (time.Duration, bool) {
	if b.period <= 0 {
		return 0, false
	}
	return b.period - time.Since(b.last), true
}

func (b *countBatcher) Close(context.Context) error { return nil }
