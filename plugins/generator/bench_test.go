package generator

import (
	"context"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// BenchmarkGenerate is the engine alone: make and encode an order.
func BenchmarkGenerate(b *testing.B) {
	g, err := New(testOptions(1))
	require.NoError(b, err)
	var o order.Order
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&o)
		buf = o.AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkInputToDrop is sales_orders → drop through a Benthos stream.
func BenchmarkInputToDrop(b *testing.B) {
	sb := service.NewStreamBuilder()
	require.NoError(b, sb.SetYAML(`
input:
  sales_orders:
    count: `+itoa(b.N)+`
    rate: 0
    seed: "1"
    batch_size: 1000
output:
  drop: {}
logger:
  level: none
`))
	stream, err := sb.Build()
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, stream.Run(context.Background()))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
}
