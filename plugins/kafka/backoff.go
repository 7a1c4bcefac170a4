package kafka

import (
	"context"
	"sync"
	"time"
)

// Back-off of every retry in this package: a failure that a retry cannot fix
// at once (a broker away, a record too large) is tried again after 1s, 2s,
// 4s ... and then every 30s, instead of in a busy loop.
const (
	retryInitial = time.Second
	retryMax     = 30 * time.Second
)

// retryBackoff hands out exponentially growing waits, capped. Safe for
// concurrent use; Reset after a success.
type retryBackoff struct {
	initial, max time.Duration

	mu   sync.Mutex
	next time.Duration
}

func newRetryBackoff() *retryBackoff {
	return &retryBackoff{initial: retryInitial, max: retryMax}
}

// Next is the wait before the next attempt.
func (b *retryBackoff) Next() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == 0 {
		b.next = b.initial
	}
	d := b.next
	b.next = min(2*b.next, b.max)
	return d
}

// Reset starts the waits again from the initial one.
func (b *retryBackoff) Reset() {
	b.mu.Lock()
	b.next = 0
	b.mu.Unlock()
}

// sleepOrDone waits d or until ctx is done.
func sleepOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
