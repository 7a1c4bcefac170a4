package kafka

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// benchRecords are n records of one partition as a fetch returns them: keys
// and values the size of produce.yaml's orders, a few records per
// millisecond, and headers when asked.
func benchRecords(n, headers int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	value := make([]byte, 320)
	ts := time.UnixMilli(1764000000123)
	for i := range recs {
		r := &kgo.Record{
			Key:       fmt.Appendf(nil, "pedido-%08d", i),
			Value:     value,
			Timestamp: ts.Add(time.Duration(i/4) * time.Millisecond),
			Topic:     "vendas_ecommerce",
			Partition: 3,
			Offset:    int64(1_000_000 + i),
		}
		for h := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d", h), Value: []byte("valor")})
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkRecordMessages measures turning the records of one fetch into the
// messages the kafka_franz input returns when it does not deliver in bulk
// (the floor, kafka_franz -> drop): per record, the message, its metadata
// and its position. "batcher" adds the batching policy of consume.yaml
// (count 1024, countBatcher), as the floor runs it. cpu-ns/record is the process's CPU
// time (the collector's included), steadier than ns/record on a busy machine.
// Run with
//
//	go test ./plugins/kafka/ -run '^$' -bench RecordMessages -benchmem
func BenchmarkRecordMessages(b *testing.B) {
	const n = 1024
	for _, c := range []struct {
		name    string
		headers int
		batcher bool
	}{
		{"plain", 0, false},
		{"headers=2", 2, false},
		{"batcher", 0, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			recs := benchRecords(n, c.headers)
			meta := newRecordMeta(untraced, "vendas_ecommerce", 3, [16]byte{1}, 7)
			var counter *countBatcher
			if c.batcher {
				var err error
				if counter, err = newCountBatcher(service.BatchPolicy{Count: n, Period: "50ms"}, nil); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			var sink service.MessageBatch
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			cpuBefore := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				if counter != nil {
					// The input counts the records, then makes their
					// messages when the batch is read.
					for _, rec := range recs {
						counter.add(len(rec.Value))
					}
					if _, err := counter.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
				sink = meta.messages(recs)
			}
			b.StopTimer()
			cpu := cpuTime() - cpuBefore
			runtime.ReadMemStats(&after)
			records := float64(b.N) * n
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
			b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/records, "B/record")
			if len(sink) != n {
				b.Fatal("no batch")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
