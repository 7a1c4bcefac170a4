package kafka

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/gctune"
)

// BenchmarkFloorPipeline measures what the floor (kafka_franz -> drop) costs
// per record once fetched: messages made from records as the input makes
// them, in batches of 1024 as consume.yaml's batching policy flushes them,
// through a Benthos stream (its input and output, with their tracing) into
// drop, the collector tuned as main.go tunes it. Fetching and decompressing
// are left out. "untraced" is as shipped (recordBackground under tracer:
// none), "plain" gives the messages a context without a span, as before.
// Run with
//
//	go test ./plugins/kafka/ -run '^$' -bench FloorPipeline -benchmem
func BenchmarkFloorPipeline(b *testing.B) {
	defer gctune.Start(gctune.DefaultMinHeap)()
	const batch, batches = 1024, 200
	recs := benchRecords(batch, 0)
	for _, c := range []struct {
		name    string
		shipped bool
	}{{"shipped", true}, {"plain", false}} {
		b.Run(c.name, func(b *testing.B) {
			var cpu int64
			var allocs uint64
			for b.Loop() {
				b.StopTimer()
				stream := floorStream(b, recs, batches, c.shipped)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				cpuBefore := cpuTime()
				b.StartTimer()
				if err := stream.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += (cpuTime() - cpuBefore).Nanoseconds()
				runtime.ReadMemStats(&after)
				allocs += after.Mallocs - before.Mallocs
				b.StartTimer()
			}
			records := float64(b.N) * batch * batches
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
			b.ReportMetric(float64(cpu)/records, "cpu-ns/record")
			b.ReportMetric(float64(allocs)/records, "allocs/record")
		})
	}
}

// floorStream is input -> drop, the input returning batches of messages made
// from recs until it has returned batches of them.
func floorStream(b testing.TB, recs []*kgo.Record, batches int, shipped bool) *service.Stream {
	env := service.NewEnvironment()
	var err error
	err = env.RegisterBatchInput("bench_records", service.NewConfigSpec(),
		func(_ *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			background := context.Background()
			if shipped {
				background = recordBackground(mgr)
			}
			meta := newRecordMeta(background, "vendas_ecommerce", 3, [16]byte{1}, 7)
			policy := service.BatchPolicy{Count: len(recs), Period: "50ms"}
			var batch func(context.Context) (service.MessageBatch, error)
			if shipped {
				// As the input does: the records are counted, then their
				// messages made when the batch is read.
				counter, err := newCountBatcher(policy, nil)
				if err != nil {
					return nil, err
				}
				batch = func(ctx context.Context) (service.MessageBatch, error) {
					for _, rec := range recs {
						counter.add(len(rec.Value))
					}
					_, _ = counter.Flush(ctx)
					return meta.messages(recs), nil
				}
			} else {
				bat, err := policy.NewBatcher(mgr)
				if err != nil {
					return nil, err
				}
				batch = func(ctx context.Context) (service.MessageBatch, error) {
					for _, rec := range recs {
						bat.Add(meta.message(rec))
					}
					return bat.Flush(ctx)
				}
			}
			left := batches
			return &funcBatchInput{read: func(ctx context.Context) (service.MessageBatch, error) {
				if left == 0 {
					return nil, service.ErrEndOfInput
				}
				left--
				return batch(ctx)
			}}, nil
		})
	if err != nil {
		b.Fatal(err)
	}
	sb := env.NewStreamBuilder()
	if err := sb.SetYAML("input: { bench_records: {} }\noutput: { drop: {} }\nlogger: { level: NONE }\n"); err != nil {
		b.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		b.Fatal(err)
	}
	return stream
}

// funcBatchInput is a BatchInput reading from a function; acks do nothing.
type funcBatchInput struct {
	read func(context.Context) (service.MessageBatch, error)
}

func (f *funcBatchInput) Connect(context.Context) error { return nil }

func (f *funcBatchInput) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	mb, err := f.read(ctx)
	return mb, func(context.Context, error) error { return nil }, err
}

func (f *funcBatchInput) Close(context.Context) error { return nil }

// TestFloorAllocs keeps what a record costs on the floor's path from rising
// unnoticed: allocations per record making messages and batching them
// (5.5: a slab context per 256), and through a Benthos stream into drop
// (8.5: Benthos' tracing and metadata; 11.5 with a traced context and
// Benthos' batcher, 13.5 before the key and offset were boxed in the slab).
func TestFloorAllocs(t *testing.T) {
	const batch = 1024
	recs := benchRecords(batch, 0)
	meta := newRecordMeta(untraced, "vendas_ecommerce", 3, [16]byte{1}, 7)
	counter, err := newCountBatcher(service.BatchPolicy{Count: batch, Period: "50ms"}, nil)
	require.NoError(t, err)
	perBatch := testing.AllocsPerRun(20, func() {
		for _, rec := range recs {
			counter.add(len(rec.Value))
		}
		_, _ = counter.Flush(context.Background())
		if out := meta.messages(recs); len(out) != batch {
			t.Fatalf("made %d", len(out))
		}
	})
	assert.LessOrEqual(t, perBatch/batch, 5.6, "allocations per record making and batching messages")

	const batches = 100
	stream := floorStream(t, recs, batches, true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	require.NoError(t, stream.Run(t.Context()))
	runtime.ReadMemStats(&after)
	perRecord := float64(after.Mallocs-before.Mallocs) / (batch * batches)
	t.Logf("%.2f allocations per record through the stream", perRecord)
	assert.LessOrEqual(t, perRecord, 9.0, "allocations per record from the input through drop")
}
