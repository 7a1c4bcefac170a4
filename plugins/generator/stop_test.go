package generator

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
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

// stopHarness replaces the process exit and the signals for one test.
type stopHarness struct {
	sigs  chan os.Signal
	exits chan int
	log   *syncBuffer
}

func newStopHarness(t *testing.T) *stopHarness {
	h := &stopHarness{sigs: make(chan os.Signal, 2), exits: make(chan int, 4), log: &syncBuffer{}}
	t.Cleanup(lifecycle.SetExit(func(code int) { h.exits <- code }))
	hooksMu.Lock()
	prevNotify := notifySignals
	notifySignals = func(c chan<- os.Signal) func() {
		done := make(chan struct{})
		go func() {
			for {
				select {
				case s := <-h.sigs:
					c <- s
				case <-done:
					return
				}
			}
		}()
		return func() { close(done) }
	}
	hooksMu.Unlock()
	t.Cleanup(func() {
		hooksMu.Lock()
		notifySignals = prevNotify
		hooksMu.Unlock()
	})
	return h
}

func (h *stopHarness) input(t *testing.T, yaml string) *input {
	t.Helper()
	conf, err := Spec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	logger := service.NewLoggerFromSlog(slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	in, err := newInputFromConfig(conf, service.MockResources(service.MockResourcesOptUseLogger(logger)))
	require.NoError(t, err)
	require.NoError(t, in.Connect(context.Background()))
	return in
}

func (h *stopHarness) waitLog(t *testing.T, substr string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(h.log.String(), substr) },
		5*time.Second, 10*time.Millisecond, "log never said %q:\n%s", substr, h.log.String())
}

func (h *stopHarness) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case code := <-h.exits:
		return code
	case <-time.After(5 * time.Second):
		t.Fatalf("the process was not ended; log:\n%s", h.log.String())
		return 0
	}
}

func read(t *testing.T, in *input) service.AckFunc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, ack, err := in.ReadBatch(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, b)
	return ack
}

// TestCloseWithUnacknowledgedOrdersExitsNonZero: Benthos would end with
// status 0 after a stop that left orders undelivered; the input says how many
// and ends the process with status 1. A stop with everything acknowledged
// ends normally.
func TestCloseWithUnacknowledgedOrdersExitsNonZero(t *testing.T) {
	h := newStopHarness(t)
	in := h.input(t, "count: 250\nrate: 0\nbatch_size: 100\n")
	ackFirst := read(t, in)
	_ = read(t, in) // never acknowledged: the broker is away
	require.NoError(t, ackFirst(context.Background(), nil))
	require.NoError(t, in.Close(context.Background()))
	assert.Equal(t, exitUnacked, h.exitCode(t))
	assert.Contains(t, h.log.String(), "stopped with 100 of 200 generated orders unacknowledged (100 acknowledged)")
	assert.Contains(t, h.log.String(), "level=ERROR", "said at the default log level")

	h = newStopHarness(t)
	in = h.input(t, "count: 100\nrate: 0\nbatch_size: 100\n")
	require.NoError(t, read(t, in)(context.Background(), nil))
	require.NoError(t, in.Close(context.Background()))
	assert.Contains(t, h.log.String(), "100 orders generated, 100 acknowledged")
	assert.Empty(t, h.exits, "nothing lost: the process ends normally")
}

// TestInterruptSaysWhatItWaitsFor: on Ctrl-C with orders unacknowledged the
// input says at once what the stop waits for; a second Ctrl-C ends the
// process at once, non-zero.
func TestInterruptSaysWhatItWaitsFor(t *testing.T) {
	h := newStopHarness(t)
	in := h.input(t, "count: 30\nrate: 0\nbatch_size: 10\n")
	defer func() { _ = in.Close(context.Background()) }()
	for range 3 {
		_ = read(t, in) // out for delivery, never acknowledged
	}
	start := time.Now()
	h.sigs <- syscall.SIGINT
	h.waitLog(t, "waiting up to the shutdown_timeout (20s unless the config sets it) for 30 unacknowledged orders")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Contains(t, h.log.String(), "press Ctrl-C again to stop now")
	assert.Empty(t, h.exits, "the first Ctrl-C lets the shutdown wait")

	h.sigs <- syscall.SIGINT
	assert.Equal(t, exitUnacked, h.exitCode(t))
	assert.Contains(t, h.log.String(), "stopped by a second interrupt with 30 of 30 generated orders unacknowledged")
}

// produceToNowhere runs the shipped produce.yaml against an address where
// no broker listens.
func produceToNowhere(t *testing.T) *kafkatest.Process {
	p := kafkatest.StartProcess(t, "produce.yaml", map[string]string{
		"KAFKA_BROKERS":        "127.0.0.1:1",
		"ORDERS_COUNT":         "2",
		"ORDERS_RATE":          "0", // both orders out at once
		"PRODUCE_HTTP_ADDRESS": "127.0.0.1:0",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	_, err := p.WaitOutput(30*time.Second, "Failed to connect to kafka_franz")
	require.NoError(t, err)
	// Benthos listens for signals only after it logs this; a SIGINT before
	// reaches the generator's watcher alone, which takes it for the first
	// of two (seen on a loaded machine: the process then never stopped).
	_, err = p.WaitOutput(30*time.Second, "Launching a Benthos instance")
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	return p
}

func interrupt(t *testing.T, p *kafkatest.Process) {
	t.Helper()
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGINT))
}

// TestProduceYAMLInterruptedTwice is the operator's view: Ctrl-C while the
// broker is unreachable says at once what it waits for, and a second Ctrl-C
// ends the process within about 2s with a non-zero status and the count.
func TestProduceYAMLInterruptedTwice(t *testing.T) {
	t.Parallel()
	p := produceToNowhere(t)
	interrupt(t, p)
	line, err := p.WaitOutput(3*time.Second, "waiting up to", "2 unacknowledged orders", "press Ctrl-C again")
	require.NoError(t, err)
	assert.Contains(t, line, "level=warning")
	interrupt(t, p)
	start := time.Now()
	err = p.Wait(5 * time.Second)
	require.Error(t, err, "a stop that leaves orders undelivered must not exit 0:\n%s", p.Output())
	assert.NotContains(t, err.Error(), "still running")
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, p.Output(), "2 of 2 generated orders unacknowledged")
}

// TestProduceYAMLInterruptedOnce: one Ctrl-C while the broker is unreachable
// ends after Benthos' shutdown_timeout, non-zero, saying how many orders
// were not acknowledged (it ended with status 0 before).
func TestProduceYAMLInterruptedOnce(t *testing.T) {
	t.Parallel()
	p := produceToNowhere(t)
	interrupt(t, p)
	err := p.Wait(40 * time.Second)
	require.Error(t, err, "a stop that leaves orders undelivered must not exit 0:\n%s", p.Output())
	assert.NotContains(t, err.Error(), "still running")
	assert.Contains(t, p.Output(), "stopped with 2 of 2 generated orders unacknowledged (0 acknowledged)")
}
