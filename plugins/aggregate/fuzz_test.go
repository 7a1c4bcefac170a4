package aggregate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// FuzzAggregate: arbitrary bytes never panic, only a valid order changes the
// totals (by exactly its own amounts), a redelivery changes nothing, and the
// snapshot stays valid JSON that reads back to the same totals.
func FuzzAggregate(f *testing.F) {
	f.Add([]byte(orderJSON("a", order.Item{Name: "Notebook", Quantity: 2, UnitPrice: 349990}, order.Item{Name: "Mouse \"x\"", Quantity: 1, UnitPrice: 10})))
	f.Add([]byte(orderJSON("b", order.Item{Name: "Café", Quantity: 1, UnitPrice: 1}, order.Item{Name: "Café", Quantity: 3, UnitPrice: 1})))
	f.Add([]byte(`{"id_ordem":"x","documento_cliente":"529.982.247-25","produtos":[{"nome":"X","quantidade":0,"preco_unitario":10}],"valor_total":0,"data_hora_venda":"01/01/2026 10:00:00"}`))
	f.Add([]byte(`{"id_ordem":"x","documento_cliente":"529.982.247-25","produtos":[{"nome":"\u00e7\ud83d\ude00","quantidade":1,"preco_unitario":1e2}],"valor_total":100,"data_hora_venda":"29/02/2024 10:00:00"}`))
	f.Add([]byte(`not json`))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		a := NewAggregator()
		warm := orderJSON("w", order.Item{Name: "Notebook", Quantity: 1, UnitPrice: 100})
		_, err := a.Apply(&Record{Data: warm, Offset: 0})
		require.NoError(t, err)
		before := a.Totals()

		out, err := a.Apply(&Record{Data: data, Offset: 1})
		after := a.Totals()
		ref, refErr := order.Decode(data)
		if err != nil {
			require.Equal(t, Rejected, out)
			require.Error(t, refErr, "Aggregator refused what order.Decode accepts")
			assert.Equal(t, before.Orders, after.Orders)
			assert.Equal(t, before.Value, after.Value)
			assert.Equal(t, before.Products, after.Products)
			assert.Equal(t, before.Rejected+1, after.Rejected)
		} else {
			require.Equal(t, Applied, out)
			require.NoError(t, refErr)
			assert.Equal(t, before.Orders+1, after.Orders)
			assert.Equal(t, before.Value+ref.Total, after.Value)
			var sum order.Cents
			for _, p := range after.Products {
				sum += p.Value
			}
			assert.Equal(t, after.Value, sum)
		}

		snap := a.AppendSnapshot(nil, ModeComplete, snapTime)
		require.True(t, json.Valid(snap), string(snap))
		s, err := ParseSnapshot(snap)
		require.NoError(t, err)
		assert.Equal(t, after.Value, s.Value)
		assert.Equal(t, after.Products, productsMap(s.Products))
	})
}
