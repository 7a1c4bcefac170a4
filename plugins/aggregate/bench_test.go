package aggregate

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

// benchOrders encodes n realistic orders: a 60-product catalog, 1–4 lines.
func benchOrders(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	catalog := realisticCatalog()
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomOrder(rng, catalog, i).AppendJSON(nil)
	}
	return out
}

const benchPool = 1 << 16

// BenchmarkAggregatorApply is the core: decode and add, no Benthos message.
func BenchmarkAggregatorApply(b *testing.B) {
	pool := benchOrders(benchPool)
	a := NewAggregator()
	recs := make([]Record, len(pool))
	for i, d := range pool {
		recs[i] = Record{Data: d, Offset: int64(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := &recs[i%len(recs)]
		r.Offset = int64(i)
		if _, err := a.Apply(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkAggregate feeds the buffer batches of 4096 messages as
// kafka_franz makes them (int metadata), in memory.
func BenchmarkAggregate(b *testing.B) {
	benchBuffer(b, "interval: 0s", 4096)
}

func benchBuffer(b *testing.B, yaml string, batchSize int) {
	pool := benchOrders(benchPool)
	buf := newTestBuffer(b, yaml)
	msgs := make(service.MessageBatch, 0, len(pool))
	pass := 0
	build := func() {
		msgs = msgs[:0]
		for i, d := range pool {
			msgs = append(msgs, kafkaMsg(d, testTopic, 0, int64(pass*len(pool)+i)))
		}
		pass++
	}
	build()
	var acked sync.WaitGroup
	var ackErr error
	var mu sync.Mutex
	ack := func(_ context.Context, err error) error {
		if err != nil {
			mu.Lock()
			ackErr = err
			mu.Unlock()
		}
		acked.Done()
		return nil
	}
	ctx := context.Background()

	b.ReportAllocs()
	b.ResetTimer()
	for done, pos := 0, 0; done < b.N; {
		if pos == len(msgs) {
			b.StopTimer()
			build()
			pos = 0
			b.StartTimer()
		}
		n := min(batchSize, len(msgs)-pos, b.N-done)
		acked.Add(1)
		if err := buf.WriteBatch(ctx, msgs[pos:pos+n], ack); err != nil {
			b.Fatal(err)
		}
		pos += n
		done += n
	}
	acked.Wait()
	b.StopTimer()
	require.NoError(b, ackErr)
	buf.mu.Lock()
	orders := buf.parts[TopicPartition{testTopic, 0}].agg.Orders()
	buf.mu.Unlock()
	require.Equal(b, int64(b.N), orders)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
	if rss := peakRSSMiB(); rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
}

// peakRSSMiB is the process's peak resident memory (Linux), which includes
// the benchmark's own pool of encoded orders and messages.
func peakRSSMiB() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))))
			if err != nil {
				return 0
			}
			return float64(kb) / 1024
		}
	}
	return 0
}
