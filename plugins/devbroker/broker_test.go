package devbroker

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v2"
)

// roundTrip produces n records to topic and consumes them back.
func roundTrip(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	require.NoError(t, err)
	defer prod.Close()
	for i := range n {
		require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr())
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cons.Close()
	var got []string
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "timed out after %d of %d records", len(got), n)
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func TestStartOnFreePort(t *testing.T) {
	b, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Partitions: 3, Topics: []string{"seeded"}})
	require.NoError(t, err)
	defer b.Close()

	assert.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*$`, b.Addr())

	adm, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer adm.Close()
	topics, err := kadm.NewClient(adm).ListTopics(context.Background())
	require.NoError(t, err)
	require.True(t, topics.Has("seeded"), "seeded topic missing: %v", topics.Names())
	assert.Len(t, topics["seeded"].Partitions, 3)

	got := roundTrip(t, b.Addr(), "seeded", 10)
	assert.ElementsMatch(t, []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"}, got)

	// Auto-created topics get the configured partition count too.
	roundTrip(t, b.Addr(), "auto_created", 1)
	// A fresh client: kgo caches metadata answers for a few seconds.
	adm2, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer adm2.Close()
	topics, err = kadm.NewClient(adm2).ListTopics(context.Background())
	require.NoError(t, err)
	assert.Len(t, topics["auto_created"].Partitions, 3, "topics: %v", topics.Names())

	b.Close()
	b.Close() // idempotent
	gone, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer gone.Close()
	pingCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.Error(t, gone.Ping(pingCtx), "a closed broker must not answer")
}

func TestStartDefaults(t *testing.T) {
	b, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	defer b.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	require.NoError(t, err)
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(context.Background())
	require.NoError(t, err)
	for _, name := range DefaultTopics {
		require.True(t, topics.Has(name), "default topic %s missing", name)
		assert.Len(t, topics[name].Partitions, DefaultPartitions)
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no port", Options{Addr: "127.0.0.1"}, "expected host:port"},
		{"bad port", Options{Addr: "127.0.0.1:x"}, "not a port number"},
		{"negative partitions", Options{Partitions: -1}, "partitions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	b, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	defer b.Close()
	_, err = Start(context.Background(), Options{Addr: b.Addr()})
	require.Error(t, err, "a second broker on a used port must fail")
}

func TestContextStopsBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b, err := Start(ctx, Options{})
	require.NoError(t, err)
	cancel()

	// Once stopped the port is free again.
	require.Eventually(t, func() bool {
		b2, err := Start(context.Background(), Options{Addr: b.Addr()})
		if err != nil {
			return false
		}
		b2.Close()
		return true
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRestartWithDataDir(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(context.Background(), Options{DataDir: dir, Topics: []string{"kept"}})
	require.NoError(t, err)
	addr := b.Addr()
	roundTrip(t, addr, "kept", 5)
	b.Close()

	b, err = Start(context.Background(), Options{Addr: addr, DataDir: dir, Topics: []string{"kept"}})
	require.NoError(t, err)
	defer b.Close()
	got := roundTrip(t, addr, "kept", 1)
	assert.Len(t, got, 6, "records written before the restart must still be there")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCommand(t *testing.T) {
	out := &syncBuffer{}
	stdout := &syncBuffer{}
	app := &cli.App{Name: "vendas-connect", Writer: stdout, ErrWriter: out, Commands: []*cli.Command{Command()}}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- app.RunContext(ctx, []string{"vendas-connect", "dev-broker", "--addr", "127.0.0.1:0", "--partitions", "2", "--topic", "a", "--topic", "b"})
	}()

	addrRe := regexp.MustCompile(`KAFKA_BROKERS=(\S+)`)
	var addr string
	require.Eventually(t, func() bool {
		if m := addrRe.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no address printed: %s", out.String())
	assert.Contains(t, out.String(), "IN MEMORY ONLY")

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	cl.Close()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b"}, topics.Names(), "--topic replaces the default topics")
	assert.Len(t, topics["a"].Partitions, 2)
	roundTrip(t, addr, "a", 3)

	cancel()
	select {
	case err := <-errc:
		require.NoError(t, err)
		assert.Empty(t, stdout.String(), "its messages are on stderr")
	case <-time.After(10 * time.Second):
		t.Fatal("dev-broker did not stop when its context ended")
	}
}
