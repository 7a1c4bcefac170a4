package kafka

// checkpointer tracks batches of one partition in the order they were read and
// tells which position may be committed once they are acknowledged in any
// order. It is the per-partition rule "never commit an offset past a message
// that is not acknowledged": a position is released only when it and every
// position tracked before it are done.
//
// It is not safe for concurrent use; callers hold a lock.
type checkpointer[T any] struct {
	queue   []*checkpointEntry[T]
	pending int64
}

type checkpointEntry[T any] struct {
	value T
	size  int64
	done  bool
}

// Track registers value (the last position of a batch of size messages) and
// returns the function to call when the batch is acknowledged. That function
// returns the highest value that became committable, or false when the
// acknowledgement did not move the checkpoint (an earlier batch is still
// pending). Calling it more than once has no further effect.
func (c *checkpointer[T]) Track(value T, size int64) func() (T, bool) {
	e := &checkpointEntry[T]{value: value, size: size}
	c.queue = append(c.queue, e)
	c.pending += size
	return func() (T, bool) {
		var zero T
		if e.done {
			return zero, false
		}
		e.done = true
		c.pending -= e.size

		released, ok := zero, false
		i := 0
		for ; i < len(c.queue) && c.queue[i].done; i++ {
			released, ok = c.queue[i].value, true
		}
		if i > 0 {
			// Drop references so released records can be collected.
			clear(c.queue[:i])
			c.queue = c.queue[i:]
		}
		return released, ok
	}
}

// Pending returns the number of tracked messages not yet acknowledged.
func (c *checkpointer[T]) Pending() int64 {
	return c.pending
}
