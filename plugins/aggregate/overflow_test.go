package aggregate

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// TestSnapshotSumOverflow: two partitions whose totals each fit int64 but
// whose sum does not. The snapshot must not wrap around to a negative total:
// what does not fit is shown at the largest int64 and named in estouro, the
// report says so, and what fits stays exact.
func TestSnapshotSumOverflow(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s")
	iate := order.Item{Name: "Iate", Quantity: 1, UnitPrice: 100000}
	remo := order.Item{Name: "Remo", Quantity: 2, UnitPrice: 500}
	ack := func(context.Context, error) error { return nil }
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{
		kafkaMsg(orderJSON("1", iate, remo), testTopic, 0, 0),
		kafkaMsg(orderJSON("2", iate), testTopic, 1, 0),
	}, ack))

	b.mu.Lock()
	// Each partition near the top of int64, as hundreds of millions of
	// maximal orders later (each partition's own counting refuses more).
	for p := range int32(2) {
		a := b.parts[TopicPartition{testTopic, p}].agg
		for i := range a.products {
			if a.products[i].Name == "Iate" {
				a.products[i].Value = math.MaxInt64 - 200000
			}
		}
	}
	data := b.appendSnapshotLocked(nil, ModeComplete, snapTime)
	b.mu.Unlock()

	s, err := ParseSnapshot(data)
	require.NoError(t, err, string(data))
	assert.Equal(t, []string{"valor_total"}, s.OverflowFields)
	assert.Equal(t, []string{"Iate"}, s.OverflowProducts)
	assert.Contains(t, string(data), `"estouro":{"campos":["valor_total"],"produtos":["Iate"]}`)
	assert.Equal(t, order.Cents(math.MaxInt64), s.Value)
	got := productsMap(s.Products)
	assert.Equal(t, ProductTotals{Name: "Iate", Units: 2, Orders: 2, Value: math.MaxInt64}, got["Iate"])
	assert.Equal(t, ProductTotals{Name: "Remo", Units: 2, Orders: 1, Value: 1000}, got["Remo"], "what fits stays exact")
	assert.Equal(t, int64(2), s.Orders)
	assert.NotContains(t, string(data), `:-`, "no negative number")

	r := newTestReport(t, "{}")
	lines := r.render(s, 0, 0)
	assert.True(t, strings.HasPrefix(lines[0], "Vendas por produto · 24/11/2026 18:04:01 · ESTOURO · pedidos 2"), lines[0])

	// Back under the top, the snapshot has no estouro again.
	b.mu.Lock()
	for p := range int32(2) {
		a := b.parts[TopicPartition{testTopic, p}].agg
		for i := range a.products {
			if a.products[i].Name == "Iate" {
				a.products[i].Value = 100000
			}
		}
	}
	data = b.appendSnapshotLocked(nil, ModeComplete, snapTime)
	b.mu.Unlock()
	assert.NotContains(t, string(data), "estouro")
	s, err = ParseSnapshot(data)
	require.NoError(t, err)
	assert.Equal(t, order.Cents(201000), s.Value)
}

// TestWindowSumOverflow: a window over two partitions whose sum exceeds
// int64 is emitted with what does not fit at the largest int64 and named
// in estouro, and its table says so.
func TestWindowSumOverflow(t *testing.T) {
	const start = 1764010800 // 2025-11-24 16:00 in São Paulo
	part := func(p int32, iate order.Cents) windowSource {
		return windowSource{tp: TopicPartition{testTopic, p}, state: &partitionState{
			Topic: testTopic, Partition: p,
			Products: []ProductTotals{{Name: "Iate"}, {Name: "Remo"}},
			Windows: []stateWindow{{Start: start, Orders: 2, Value: iate + 1000, Prods: []stateWinProd{
				{Idx: 0, Units: 1, Orders: 1, Value: iate},
				{Idx: 1, Units: 2, Orders: 1, Value: 1000},
			}}},
		}}
	}
	end := func(s int64) int64 { return s + 3600 }
	big := order.Cents(math.MaxInt64 - 5000)
	c := combine([]windowSource{part(0, big), part(1, big)}, []int64{start}, end)[start]
	c.rev = 1
	data := appendWindowJSON(nil, c, start+3600, snapTime)
	w, err := ParseWindow(data)
	require.NoError(t, err, string(data))
	assert.Equal(t, []string{"valor_total"}, w.OverflowFields)
	assert.Equal(t, []string{"Iate"}, w.OverflowProducts)
	assert.Equal(t, order.Cents(math.MaxInt64), w.Value)
	assert.Equal(t, int64(4), w.Orders)
	assert.Contains(t, w.Products, ProductTotals{Name: "Remo", Units: 4, Orders: 2, Value: 2000}, "what fits stays exact")
	assert.Contains(t, w.Products, ProductTotals{Name: "Iate", Units: 2, Orders: 2, Value: math.MaxInt64})
	assert.NotContains(t, string(data), `:-`, "no negative number")
	assert.Contains(t, renderWindow(w, 0)[0], "ESTOURO · final")

	// The dashboard's row of that window names the same (CONTRACT section 8).
	b := newTestBuffer(t, "interval: 0s\nwindow: 1h\n")
	b.mu.Lock()
	live := string(b.appendLiveWindowLocked(nil, []windowSource{part(0, big), part(1, big)}, start))
	small := string(b.appendLiveWindowLocked(nil, []windowSource{part(0, 100), part(1, 100)}, start))
	b.mu.Unlock()
	var lw struct {
		Value   string `json:"valor_total"`
		Estouro *struct {
			Campos   []string `json:"campos"`
			Produtos []string `json:"produtos"`
		} `json:"estouro"`
	}
	require.NoError(t, json.Unmarshal([]byte(live), &lw), live)
	require.NotNil(t, lw.Estouro, live)
	assert.Equal(t, []string{"valor_total"}, lw.Estouro.Campos)
	assert.Equal(t, []string{"Iate"}, lw.Estouro.Produtos)
	assert.Equal(t, "92233720368547758.07", lw.Value)
	assert.NotContains(t, small, "estouro")
	require.True(t, json.Valid([]byte(small)), small)

	c = combine([]windowSource{part(0, 100), part(1, 100)}, []int64{start}, end)[start]
	assert.Zero(t, c.overflow.len())
	assert.NotContains(t, string(appendWindowJSON(nil, c, start+3600, snapTime)), "estouro")
}

// TestStateNegativeTotalsRefused: a state record with a negative product
// total (corrupt, or not ours) is refused with the product named, as its
// other numbers are: sums over partitions assume no total is negative.
func TestStateNegativeTotalsRefused(t *testing.T) {
	s := &partitionState{Topic: testTopic, Partition: 0, Next: 10, Orders: 3,
		Products: []ProductTotals{{Name: "Remo", Units: 2, Orders: 1, Value: 1000}}}
	_, err := parseState(appendState(nil, s))
	require.NoError(t, err)
	for _, p := range []ProductTotals{
		{Name: "Iate", Units: -1, Orders: 1, Value: 1000},
		{Name: "Iate", Units: 1, Orders: -1, Value: 1000},
		{Name: "Iate", Units: 1, Orders: 1, Value: -1000},
	} {
		s.Products = []ProductTotals{{Name: "Remo", Units: 2, Orders: 1, Value: 1000}, p}
		_, err := parseState(appendState(nil, s))
		assert.ErrorContains(t, err, `produtos[1] ("Iate"): negative totals`)
	}
}

// TestPainelSumOverflow: the dashboard's view carries the snapshot's estouro
// and its own sums over products stay at the largest int64.
func TestPainelSumOverflow(t *testing.T) {
	b := newTestBuffer(t, "interval: 0s")
	require.NotNil(t, b.live, "the dashboard view of a test buffer")
	ack := func(context.Context, error) error { return nil }
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{
		kafkaMsg(orderJSON("1", order.Item{Name: "Iate", Quantity: 1, UnitPrice: 100000}), testTopic, 0, 0),
		kafkaMsg(orderJSON("2", order.Item{Name: "Barco", Quantity: 1, UnitPrice: 100000}), testTopic, 1, 0),
	}, ack))
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := range int32(2) {
		a := b.parts[TopicPartition{testTopic, p}].agg
		for i := range a.products {
			a.products[i].Units = math.MaxInt64 - 10 // each product fits, their units do not
		}
	}
	b.appendSnapshotLocked(nil, ModeComplete, snapTime)
	painel := string(b.appendPainelLocked(nil, b.view.rows, snapTime))
	assert.Contains(t, painel, `"quantidade":9223372036854775807,`, painel)
	assert.NotContains(t, painel, `:-`, "no negative number")
	assert.NotContains(t, painel, "estouro", "no snapshot sum overflowed")

	b.parts[TopicPartition{testTopic, 1}].agg.products[0].Name = "Iate" // same product on both
	b.view.init()
	b.appendSnapshotLocked(nil, ModeComplete, snapTime)
	painel = string(b.appendPainelLocked(nil, b.view.rows, snapTime))
	assert.Contains(t, painel, `"estouro":{"campos":[],"produtos":["Iate"]}`, painel)
}
