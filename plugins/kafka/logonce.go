package kafka

import (
	"fmt"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// DefaultLogEvery is how often a LogLimiter lets the same message through.
const DefaultLogEvery = time.Minute

// LogLimiter logs a repeated message at most once per interval, so that a
// retry loop can report every failure without flooding the log. Messages are
// the same when they have the same level and format string (the arguments may
// differ: a partition number or an attempt count does not make a new message).
// The first occurrence is logged at once; one that comes back after being held
// back says how many were held back. It is safe for concurrent use.
//
//	lim := kafka.NewLogLimiter(mgr.Logger(), kafka.DefaultLogEvery)
//	lim.Warnf("cannot reach %s: %v", addr, err) // once a minute at most
type LogLimiter struct {
	log   *service.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[limitKey]*limitState
}

type limitKey struct {
	level  int
	format string
}

type limitState struct {
	last       time.Time
	suppressed int
}

const (
	levelDebug = iota
	levelInfo
	levelWarn
	levelError
)

// NewLogLimiter returns a limiter writing to log (nil logs nothing), letting
// each message through at most once per every.
func NewLogLimiter(log *service.Logger, every time.Duration) *LogLimiter {
	return &LogLimiter{log: log, every: every, now: time.Now, seen: map[limitKey]*limitState{}}
}

// Errorf logs at error level, at most once per interval per format.
func (l *LogLimiter) Errorf(format string, args ...any) { l.logf(levelError, format, args) }

// Warnf logs at warning level, at most once per interval per format.
func (l *LogLimiter) Warnf(format string, args ...any) { l.logf(levelWarn, format, args) }

// Infof logs at info level, at most once per interval per format.
func (l *LogLimiter) Infof(format string, args ...any) { l.logf(levelInfo, format, args) }

// Debugf logs at debug level, at most once per interval per format.
func (l *LogLimiter) Debugf(format string, args ...any) { l.logf(levelDebug, format, args) }

// Reset forgets format at every level, so that its next occurrence is logged
// at once: call it when the condition it reports is over.
func (l *LogLimiter) Reset(format string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	for _, level := range []int{levelDebug, levelInfo, levelWarn, levelError} {
		delete(l.seen, limitKey{level, format})
	}
	l.mu.Unlock()
}

func (l *LogLimiter) logf(level int, format string, args []any) {
	if l == nil || l.log == nil {
		return
	}
	l.keyed(level, format, fmt.Sprintf(format, args...))
}

// keyed logs msg, limited under key (a format string or another constant).
func (l *LogLimiter) keyed(level int, key, msg string) {
	if l == nil || l.log == nil {
		return
	}
	now := l.now()
	k := limitKey{level, key}
	l.mu.Lock()
	st, ok := l.seen[k]
	if ok && now.Sub(st.last) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	held := 0
	if ok {
		held = st.suppressed
	}
	l.seen[k] = &limitState{last: now}
	l.mu.Unlock()

	if held > 0 {
		msg = fmt.Sprintf("%s (and %d more like this since the last report)", msg, held)
	}
	switch level {
	case levelError:
		l.log.Error(msg)
	case levelWarn:
		l.log.Warn(msg)
	case levelInfo:
		l.log.Info(msg)
	default:
		l.log.Debug(msg)
	}
}
