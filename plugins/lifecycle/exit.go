// Package lifecycle ends the process for the components that must stop it
// because going on would be wrong or useless: the Kafka brokers refuse our
// credentials, orders were left unacknowledged, a stored state does not fit
// its topic. main sets the exit once, so that its log pipe is flushed first.
package lifecycle

import (
	"os"
	"sync"
	"testing"
	"time"
)

// exitGrace lets the last log lines out before the default exit: main copies
// them from a pipe to stderr. SetExit replaces the default.
const exitGrace = 200 * time.Millisecond

var (
	mu   sync.Mutex
	hook = defaultExit
)

// defaultExit waits a moment for the logs and ends the process; under
// `go test` it does nothing, so that a test of a stop never ends the test
// binary (tests that observe the exit replace it with SetExit).
func defaultExit(code int) {
	if testing.Testing() {
		return
	}
	time.Sleep(exitGrace)
	os.Exit(code)
}

// SetExit sets how a component ends the process and returns a function that
// puts the previous one back.
func SetExit(fn func(code int)) (restore func()) {
	mu.Lock()
	prev := hook
	hook = fn
	mu.Unlock()
	return func() {
		mu.Lock()
		hook = prev
		mu.Unlock()
	}
}

// Exit ends the process with code, through the function SetExit set.
func Exit(code int) {
	mu.Lock()
	fn := hook
	mu.Unlock()
	fn(code)
}
