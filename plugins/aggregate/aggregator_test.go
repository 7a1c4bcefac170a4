package aggregate

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

var snapTime = time.Date(2026, 11, 24, 21, 4, 1, 0, time.UTC) // 18:04:01 in São Paulo

func orderJSON(id string, items ...order.Item) []byte {
	o := order.Order{ID: id, Customer: "529.982.247-25", Items: items, SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: 18, Minute: 3, Second: 59}}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

func TestAggregatorTotals(t *testing.T) {
	a := NewAggregator()
	nb := order.Item{Name: "Notebook Dell Inspiron 15", Quantity: 2, UnitPrice: 349990}
	mouse := order.Item{Name: "Mouse", Quantity: 1, UnitPrice: 10}
	for _, data := range [][]byte{
		orderJSON("1", nb, mouse),
		orderJSON("2", mouse, mouse), // one order, two lines of the same product
		[]byte(`{"id_ordem":"bad"}`),
	} {
		_, _ = a.Apply(&Record{Data: data})
	}
	got := a.Totals()
	assert.Equal(t, int64(2), got.Orders)
	assert.Equal(t, int64(1), got.Rejected)
	assert.Equal(t, order.Cents(2*349990+3*10), got.Value)
	assert.Equal(t, map[string]ProductTotals{
		"Notebook Dell Inspiron 15": {Name: "Notebook Dell Inspiron 15", Units: 2, Orders: 1, Value: 699980},
		"Mouse":                     {Name: "Mouse", Units: 3, Orders: 2, Value: 30},
	}, got.Products)
}

func TestSnapshotModes(t *testing.T) {
	a := NewAggregator()
	nb := order.Item{Name: "Notebook", Quantity: 2, UnitPrice: 349990}
	mouse := order.Item{Name: "Mouse", Quantity: 5, UnitPrice: 10000}
	cafe := order.Item{Name: "Café \"Especial\"", Quantity: 1, UnitPrice: 10000}
	apply := func(offset int64, data []byte) {
		_, _ = a.Apply(&Record{Data: data, Offset: offset})
	}
	apply(0, orderJSON("1", nb))
	apply(1, orderJSON("2", mouse, cafe))
	apply(2, []byte("not json"))

	assert.Equal(t,
		`{"pedidos":2,"rejeitados":1,"valor_total":7599.80,"produtos":[`+
			`{"produto":"Notebook","quantidade":2,"pedidos":1,"valor_total":6999.80},`+
			`{"produto":"Mouse","quantidade":5,"pedidos":1,"valor_total":500.00},`+
			`{"produto":"Café \"Especial\"","quantidade":1,"pedidos":1,"valor_total":100.00}],`+
			`"modo":"complete","offsets":{},"particoes":[],"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`,
		string(a.AppendSnapshot(nil, ModeComplete, snapTime)))
	assert.False(t, a.Changed())

	apply(3, orderJSON("3", mouse))
	upd := a.AppendSnapshot(nil, ModeUpdate, snapTime)
	assert.Equal(t,
		`{"pedidos":3,"rejeitados":1,"valor_total":8099.80,"produtos":[`+
			`{"produto":"Mouse","quantidade":10,"pedidos":2,"valor_total":1000.00}],`+
			`"modo":"update","offsets":{},"particoes":[],"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":2}`,
		string(upd))
	require.True(t, json.Valid(upd))

	// Nothing changed: an update lists no product, complete still lists all.
	s, err := ParseSnapshot(a.AppendSnapshot(nil, ModeUpdate, snapTime))
	require.NoError(t, err)
	assert.Empty(t, s.Products)
	s, err = ParseSnapshot(a.AppendSnapshot(nil, ModeComplete, snapTime))
	require.NoError(t, err)
	assert.Len(t, s.Products, 3)
	assert.Equal(t, int64(4), s.Sequence)
}

func TestSnapshotTies(t *testing.T) {
	a := NewAggregator()
	for _, name := range []string{"b", "c", "a"} {
		_, err := a.Apply(&Record{Data: orderJSON("x", order.Item{Name: name, Quantity: 1, UnitPrice: 500})})
		require.NoError(t, err)
	}
	got := string(a.AppendSnapshot(nil, ModeComplete, snapTime))
	assert.Contains(t, got, `"produtos":[{"produto":"a",`)
	assert.Contains(t, got, `{"produto":"b",`)
}

// TestAggregatorMatchesNaiveSum checks exact centavos on many random orders.
func TestAggregatorMatchesNaiveSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	catalog := smallCatalog(rng, 7)
	a, want := NewAggregator(), newNaive()
	for i := range 5000 {
		o := randomOrder(rng, catalog, i)
		want.add(o)
		out, err := a.Apply(&Record{Data: o.AppendJSON(nil)})
		require.NoError(t, err)
		require.Equal(t, Applied, out)
	}
	got := a.Totals()
	assert.Equal(t, want.orders, got.Orders)
	assert.Equal(t, want.value, got.Value)
	assert.Equal(t, want.products, got.Products)
	s, err := ParseSnapshot(a.AppendSnapshot(nil, ModeComplete, snapTime))
	require.NoError(t, err)
	assert.Equal(t, want.products, productsMap(s.Products))
	assert.Equal(t, want.value, s.Value)
}

func TestAggregatorOverflow(t *testing.T) {
	a := NewAggregator()
	data := orderJSON("1", order.Item{Name: "Iate", Quantity: 1, UnitPrice: 100000})
	_, err := a.Apply(&Record{Data: data})
	require.NoError(t, err)
	// Hundreds of millions of maximal orders later, the grand total is near
	// the top of int64: the next order must be refused, not wrapped around.
	a.value = math.MaxInt64 - 50000
	out, err := a.Apply(&Record{Data: data})
	assert.Equal(t, Rejected, out)
	require.ErrorIs(t, err, errOverflow)
	assert.Equal(t, ProductTotals{Name: "Iate", Units: 1, Orders: 1, Value: 100000}, a.Totals().Products["Iate"])
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", `a"b\c`, "tab\tnl\nctl\x01", "ação ç", "bad\xffutf8", ""} {
		got := order.AppendString(nil, s)
		want, err := json.Marshal(s)
		require.NoError(t, err)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), string(got))
		var wantBack string
		require.NoError(t, json.Unmarshal(want, &wantBack))
		assert.Equal(t, wantBack, back)
	}
}
