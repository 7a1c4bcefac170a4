package order

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzDecode: the decoder never panics, and whatever it accepts re-encodes
// to an order it accepts again with the same content.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validOrder))
	f.Add([]byte(`{"id_ordem":"x"}`))
	f.Add([]byte(`{"produtos":[{"nome":"\u00e9","quantidade":1,"preco_unitario":0.01}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id_ordem":"a\u202e","documento_cliente":"529.982.247-25","produtos":[{"nome":"A\ud800\u001b\u0085","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"04/11/2018 00:30:00"}`))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Order
		if err := d.Decode(data, &o); err != nil {
			return
		}
		if o.Total != o.ItemsTotal() {
			t.Fatalf("accepted an order whose total %s differs from its items %s", o.Total, o.ItemsTotal())
		}
		for _, it := range o.Items {
			if n := utf8.RuneCountInString(it.Name); n > MaxNameRunes || !utf8.ValidString(it.Name) || strings.ContainsFunc(it.Name, IsControlRune) {
				t.Fatalf("accepted the name %q", it.Name)
			}
		}
		if !utf8.ValidString(o.ID) || strings.ContainsFunc(o.ID, IsControlRune) {
			t.Fatalf("accepted the id %q", o.ID)
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

// FuzzDecodeAgreesWithEncodingJSON: what the decoder accepts is valid JSON,
// and encoding/json reads the same fields from it (the decoder's fast paths,
// such as comparing expected keys in place, must not change the result).
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	f.Add([]byte(validOrder))
	f.Add([]byte(" {\n \"id_ordem\" : \"a1\" , \"documento_cliente\":\"52998224725\",\"extra\":[1,{\"a\":null}],\"produtos\":[{\"quantidade\":2,\"nome\":\"Caf\\u00e9\",\"preco_unitario\":1.5e0}],\"data_hora_venda\":\"24/11/2026 18:03:59\",\"valor_total\":3} "))
	f.Add([]byte(`{"id_ord\u0065m":"a1","documento_cliente":"529.982.247-25","produtos":[{"n\u006fme":"X","quantidade":1,"preco_unitario":1}],"valor_total":1,"data_hora_venda":"01/01/2026 00:00:00"}`))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Order
		if err := d.Decode(data, &o); err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON: %q", data)
		}
		var ref struct {
			ID       string `json:"id_ordem"`
			Customer string `json:"documento_cliente"`
			Products []struct {
				Name      string      `json:"nome"`
				Quantity  json.Number `json:"quantidade"`
				UnitPrice json.Number `json:"preco_unitario"`
			} `json:"produtos"`
			Total  json.Number `json:"valor_total"`
			SoldAt string      `json:"data_hora_venda"`
		}
		// encoding/json matches keys case-insensitively; the decoder does
		// not, so compare only documents whose keys are all lower case.
		if bytes.ContainsFunc(data, unicode.IsUpper) {
			return
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("encoding/json refuses what the decoder accepted: %v", err)
		}
		if ref.ID != o.ID || ref.Customer != o.Customer || ref.SoldAt != o.SoldAt.String() || len(ref.Products) != len(o.Items) {
			t.Fatalf("fields differ: %+v vs %+v", ref, o)
		}
		if c, err := ParseCents([]byte(ref.Total)); err != nil || c != o.Total {
			t.Fatalf("valor_total %s vs %s", ref.Total, o.Total)
		}
		for i, p := range ref.Products {
			it := o.Items[i]
			q, err := p.Quantity.Int64()
			c, err2 := ParseCents([]byte(p.UnitPrice))
			if p.Name != it.Name || err != nil || q != it.Quantity || err2 != nil || c != it.UnitPrice {
				t.Fatalf("product %d differs: %+v vs %+v", i, p, it)
			}
		}
	})
}
