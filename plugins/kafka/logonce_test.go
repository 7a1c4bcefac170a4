package kafka

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// capturingLogger is a Benthos logger writing every level to a buffer.
func capturingLogger() (*service.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	h := slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	return service.NewLoggerFromSlog(slog.New(h)), buf
}

func TestLogLimiter(t *testing.T) {
	log, buf := capturingLogger()
	lim := NewLogLimiter(log, time.Minute)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	lim.now = func() time.Time { return now }

	for i := range 130 { // a retry loop failing twice a second for over a minute
		lim.Errorf("cannot reach %s: attempt %d", "broker-1", i)
		lim.Warnf("other problem %d", i)
		now = now.Add(500 * time.Millisecond)
	}
	out := buf.String()
	assert.Equal(t, 1, strings.Count(out, "cannot reach broker-1: attempt 0"), out)
	assert.Equal(t, 2, strings.Count(out, "cannot reach broker-1"), "one at once, one a minute later:\n%s", out)
	assert.Contains(t, out, "cannot reach broker-1: attempt 120 (and 119 more like this since the last report)", "a minute later, with its own arguments")
	assert.Equal(t, 2, strings.Count(out, "other problem"), "each format is limited on its own")
	assert.Contains(t, out, "level=ERROR")
	assert.Contains(t, out, "level=WARN")

	lim.Reset("cannot reach %s: attempt %d")
	lim.Errorf("cannot reach %s: attempt %d", "broker-1", 200)
	assert.Contains(t, buf.String(), "attempt 200", "after Reset the next one is logged at once")
}

func TestRetryBackoff(t *testing.T) {
	b := newRetryBackoff()
	var got []time.Duration
	for range 8 {
		got = append(got, b.Next())
	}
	s := time.Second
	assert.Equal(t, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}, got)
	b.Reset()
	assert.Equal(t, s, b.Next())
}
