package order_test

import (
	"testing"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// BenchmarkDecode decodes orders as the sales_orders input makes them, the
// way the aggregator does (SkipIdentity), from a pool that fits in cache.
func BenchmarkDecode(b *testing.B) {
	g, err := generator.New(generator.Options{
		Seed: 1, Catalog: generator.DefaultCatalog(), Customers: 5000, MaxItems: 5, MaxQuantity: 5,
		PopularitySkew: 1.1, BasketDecay: 0.45, QuantityDecay: 0.3,
		Clock: generator.Clock{Simulated: true, Start: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), Speed: 1, Rate: 100},
	})
	if err != nil {
		b.Fatal(err)
	}
	pool := make([][]byte, 1024)
	size := 0
	var o order.Order
	for i := range pool {
		g.Next(&o)
		pool[i] = o.AppendJSON(nil)
		size += len(pool[i])
	}
	d := order.NewDecoder()
	d.SkipIdentity = true
	b.SetBytes(int64(size / len(pool)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := d.Decode(pool[i%len(pool)], &o); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
