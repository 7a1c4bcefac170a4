package order

import (
	"testing"
)

// FuzzDecode: the decoder never panics, and whatever it accepts re-encodes
// to an order it accepts again with the same content.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validOrder))
	f.Add([]byte(`{"id_ordem":"x"}`))
	f.Add([]byte(`{"produtos":[{"nome":"\u00e9","quantidade":1,"preco_unitario":0.01}]}`))
	f.Add([]byte(`[]`))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Order
		if err := d.Decode(data, &o); err != nil {
			return
		}
		if o.Total != o.ItemsTotal() {
			t.Fatalf("accepted an order whose total %s differs from its items %s", o.Total, o.ItemsTotal())
		}
		again, err := Decode(o.AppendJSON(nil))
		if err != nil {
			t.Fatalf("re-encoded order is refused: %v", err)
		}
		if again.Total != o.Total || len(again.Items) != len(o.Items) || again.ID != o.ID {
			t.Fatalf("round trip changed the order")
		}
	})
}
