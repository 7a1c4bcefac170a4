package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
)

// dialHook counts failed broker connections of a client.
type dialHook struct{ failures atomic.Int64 }

func (h *dialHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.failures.Add(1)
	}
}

// TestBrokerRestart stops the broker while the output is producing and the
// input is consuming, starts it again on the same address and checks that
// every record the output acknowledged is on the topic and reaches the input.
//
// It needs a broker it can stop, so it always runs against its own embedded
// broker (kept on disk across the restart), with or without KAFKA_BROKERS.
func TestBrokerRestart(t *testing.T) {
	const total, batchSize = 6000, 200
	dir := t.TempDir()
	const topic = "restart_orders"
	opts := devbroker.Options{Addr: "127.0.0.1:0", Partitions: 3, Topics: []string{topic}, DataDir: dir}
	b, err := devbroker.Start(context.Background(), opts)
	require.NoError(t, err)
	opts.Addr = b.Addr()
	var restarted *devbroker.Broker
	defer func() {
		b.Close()
		if restarted != nil {
			restarted.Close()
		}
	}()
	t.Logf("own embedded broker at %s, restarted mid-test", opts.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Consumer: a Benthos stream, so reconnection is handled as in production.
	var mu sync.Mutex
	received := map[string]int{}
	all := make(chan struct{})
	cons := service.NewStreamBuilder()
	require.NoError(t, cons.SetLoggerYAML("level: error"))
	require.NoError(t, cons.AddInputYAML(fmt.Sprintf(`
kafka_franz:
  seed_brokers: [ %q ]
  topics: [ %s ]
  consumer_group: restart_group
  commit_period: 100ms
`, opts.Addr, topic)))
	require.NoError(t, cons.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		v, err := m.AsBytes()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		received[string(v)]++
		if len(received) == total {
			close(all)
		}
		return nil
	}))
	cstream, err := cons.Build()
	require.NoError(t, err)
	consErr := make(chan error, 1)
	go func() { consErr <- cstream.Run(ctx) }()

	// Producer: the output driven directly, retrying a failed batch as the
	// Benthos pipeline would, so we know exactly what was acknowledged.
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\nkey: ${! content() }\ntimeout: 2s\n", opts.Addr, topic))
	hook := &dialHook{}
	// A short metadata min age lets the client look for the returning broker
	// sooner than the default 5s, to keep the test short.
	w.clientOpts = append(w.clientOpts, kgo.WithHooks(hook), kgo.MetadataMinAge(100*time.Millisecond))
	connect(t, w)
	defer closeWithin(t, w)

	values := seqValues("r", total)
	var acked atomic.Int64
	var writeErrs atomic.Int64
	prodDone := make(chan error, 1)
	go func() {
		for i := 0; i < total; i += batchSize {
			batch := make(service.MessageBatch, batchSize)
			for j := range batch {
				batch[j] = service.NewMessage([]byte(values[i+j]))
			}
			for {
				err := w.WriteBatch(ctx, batch)
				if err == nil {
					break
				}
				writeErrs.Add(1)
				if ctx.Err() != nil || errors.Is(err, service.ErrNotConnected) {
					prodDone <- err
					return
				}
			}
			acked.Store(int64(i + batchSize))
		}
		prodDone <- nil
	}()

	require.Eventually(t, func() bool { return acked.Load() >= total/3 }, 30*time.Second, time.Millisecond, "producing did not start")
	b.Close()
	ackedBeforeStop := acked.Load()
	t.Logf("broker stopped after %d acknowledged records", ackedBeforeStop)

	// Restart only once the producer has noticed the broker is gone.
	require.Eventually(t, func() bool { return hook.failures.Load() > 0 }, 30*time.Second, time.Millisecond, "the producer never saw the outage")
	require.Eventually(t, func() bool {
		restarted, err = devbroker.Start(context.Background(), opts)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "restart on %s: %v", opts.Addr, err)
	t.Logf("broker restarted; %d failed connection attempts, %d failed writes meanwhile", hook.failures.Load(), writeErrs.Load())

	t0 := time.Now()
	select {
	case err := <-prodDone:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatalf("producer stuck at %d of %d acknowledged records", acked.Load(), total)
	}
	t.Logf("producer done %v after restart", time.Since(t0))
	require.Greater(t, acked.Load(), ackedBeforeStop, "production must continue after the restart")

	// Every acknowledged record is on the topic.
	onTopic := map[string]bool{}
	for _, r := range readTopic(t, opts.Addr, topic, total) {
		onTopic[string(r.Value)] = true
	}
	for _, v := range values {
		require.True(t, onTopic[v], "acknowledged record %s lost", v)
	}

	// And the consumer, which lived through the outage, got all of them.
	select {
	case <-all:
	case err := <-consErr:
		t.Fatalf("consumer stopped: %v", err)
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("consumer received %d of %d records", len(received), total)
	}
	t.Logf("consumer done %v after restart", time.Since(t0))
	require.NoError(t, cstream.Stop(ctx))
	t.Logf("consumer stopped %v after restart", time.Since(t0))
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range received {
		dups += n - 1
	}
	t.Logf("consumer received %d records, %d redelivered after the restart", len(received), dups)
	assert.Len(t, received, total)
}
