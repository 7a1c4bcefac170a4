package kafkatest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// ProductSum is one product's totals in an independent sum.
type ProductSum struct {
	Units  int64
	Orders int64
	Cents  int64
}

// Sum is the independent total of a topic's orders.
type Sum struct {
	Orders   int64
	Rejected int64
	Products map[string]ProductSum
}

// SumOrders totals the orders in values with encoding/json and decimal
// strings, sharing no code with the order package, so that it can check it.
// A value that is not a valid order by CONTRACT.md's arithmetic rules
// (quantity ≥ 1, price > 0, total = Σ items) counts as rejected.
func SumOrders(values [][]byte) (Sum, error) {
	s := Sum{Products: map[string]ProductSum{}}
	for _, v := range values {
		var o struct {
			Items []struct {
				Name  string      `json:"nome"`
				Qty   json.Number `json:"quantidade"`
				Price json.Number `json:"preco_unitario"`
			} `json:"produtos"`
			Total json.Number `json:"valor_total"`
		}
		dec := json.NewDecoder(strings.NewReader(string(v)))
		dec.UseNumber()
		if err := dec.Decode(&o); err != nil || len(o.Items) == 0 {
			s.Rejected++
			continue
		}
		total, err := cents(o.Total.String())
		ok := err == nil
		var sum int64
		for _, it := range o.Items {
			q, err1 := strconv.ParseInt(it.Qty.String(), 10, 64)
			p, err2 := cents(it.Price.String())
			if err1 != nil || err2 != nil || q < 1 || p <= 0 || it.Name == "" {
				ok = false
				break
			}
			sum += q * p
		}
		if !ok || sum != total {
			s.Rejected++
			continue
		}
		s.Orders++
		for _, it := range o.Items {
			q, _ := strconv.ParseInt(it.Qty.String(), 10, 64)
			p, _ := cents(it.Price.String())
			ps := s.Products[it.Name]
			ps.Units += q
			ps.Orders++
			ps.Cents += q * p
			s.Products[it.Name] = ps
		}
	}
	return s, nil
}

// cents reads "3499.9" or "3499.90" or "12" as centavos, refusing more than
// two decimals.
func cents(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%s: more than two decimals", s)
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(whole, "-") {
		return w*100 - f, nil
	}
	return w*100 + f, nil
}

// CentsOf reads a snapshot's money field (a JSON number) as centavos.
func CentsOf(n json.Number) (int64, error) { return cents(n.String()) }
