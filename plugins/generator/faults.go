package generator

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Fault is a class of record a test of a consumer needs besides good orders:
// a record the consumer must reject, the same order sent again, or an order
// whose event time is out of order or late. Each injected record carries its
// class in the metadata FaultHeader.
type Fault uint8

// The fault classes. The names are the values of FaultHeader and the keys of
// faults and of the expected results' falhas; they are part of the contract.
const (
	NoFault         Fault = iota
	FaultNotJSON          // nao_json: the order's JSON cut in half
	FaultMissing          // campo_ausente: no documento_cliente
	FaultWrongType        // tipo_errado: a quantidade written as text
	FaultQuantity         // quantidade_invalida: a quantidade of 0
	FaultPrice            // preco_invalido: a preco_unitario of 0
	FaultTotal            // total_errado: valor_total one centavo more than the items
	FaultDate             // data_invalida: 31 February
	FaultCPF              // cpf_invalido: the last check digit wrong
	FaultOversized        // grande_demais: more than order.MaxItems products
	FaultControl          // caracteres_de_controle: a BEL character in a product name
	FaultDuplicate        // duplicado: the same order (same bytes and key) sent again
	FaultOutOfOrder       // fora_de_ordem: event time 1 to 10 minutes before its neighbours'
	FaultLate             // atrasado: event time 1 to 24 hours before its neighbours'
	numFaults
)

// FaultHeader is the metadata key (and, through produce.yaml, the Kafka
// header) naming the class of an injected record. It names the class only.
const FaultHeader = "vendas_falha"

var faultNames = [numFaults]string{
	"", "nao_json", "campo_ausente", "tipo_errado", "quantidade_invalida", "preco_invalido",
	"total_errado", "data_invalida", "cpf_invalido", "grande_demais", "caracteres_de_controle",
	"duplicado", "fora_de_ordem", "atrasado",
}

// String is the class's name, as in FaultHeader.
func (f Fault) String() string {
	if f < numFaults {
		return faultNames[f]
	}
	return "falha_" + strconv.Itoa(int(f))
}

// Rejected says whether a correct consumer rejects a record of this class
// (sales_aggregate does: it sends it to the DLQ).
func (f Fault) Rejected() bool { return f >= FaultNotJSON && f <= FaultControl }

// Faults lists every class, in order.
func Faults() []Fault {
	out := make([]Fault, 0, numFaults-1)
	for f := FaultNotJSON; f < numFaults; f++ {
		out = append(out, f)
	}
	return out
}

// ParseFault reads a class name.
func ParseFault(name string) (Fault, error) {
	for f := FaultNotJSON; f < numFaults; f++ {
		if faultNames[f] == name {
			return f, nil
		}
	}
	return NoFault, fmt.Errorf("no fault class %q: the classes are %s", name, strings.Join(faultNames[1:], ", "))
}

// FaultRates is, per class, the share of orders that carry it (0 to 1).
type FaultRates [numFaults]float64

// Any says whether any fault is injected.
func (r *FaultRates) Any() bool {
	for _, x := range r {
		if x > 0 {
			return true
		}
	}
	return false
}

func (r *FaultRates) validate() error {
	sum := 0.0
	for f, x := range r {
		if math.IsNaN(x) || x < 0 || x > 1 {
			return fmt.Errorf("%s.%s must be from 0 to 1, got %v", fieldFaults, Fault(f), x)
		}
		sum += x
	}
	if sum > 1 {
		return fmt.Errorf("the fault rates add up to %v, more than 1 (every order)", sum)
	}
	return nil
}

// faultPicker says which orders carry a fault. The choice for an order
// depends only on the seed, the instance and its seq, never on the order
// source, so that turning faults on leaves the orders themselves as they were
// and the expected results of any range can be computed alone.
type faultPicker struct {
	any  bool
	seed uint64
	cum  [numFaults]float64
}

func newFaultPicker(opts *Options) faultPicker {
	p := faultPicker{any: opts.Faults.Any(), seed: mix64(uint64(opts.Seed)^0x66616c6861, uint64(opts.Instance))}
	total := 0.0
	for f := range numFaults {
		total += opts.Faults[f]
		p.cum[f] = total
	}
	return p
}

// at is the fault of order seq, and random bits for its details.
func (p *faultPicker) at(seq uint64) (Fault, uint64) {
	if !p.any {
		return NoFault, 0
	}
	u := float64(mix64(p.seed, seq)>>11) / (1 << 53)
	for f := FaultNotJSON; f < numFaults; f++ {
		if u < p.cum[f] {
			return f, mix64(p.seed+1, seq)
		}
	}
	return NoFault, 0
}

// shiftEvent moves an out-of-order or late order's event time back. Its
// totals stay: only when it happened changes.
func shiftEvent(o *order.Order, f Fault, bits uint64) {
	var back time.Duration
	switch f {
	case FaultOutOfOrder:
		back = time.Minute + time.Duration(bits%540)*time.Second
	case FaultLate:
		back = time.Hour + time.Duration(bits%(23*3600))*time.Second
	default:
		return
	}
	o.SoldAt = order.LocalTimeOf(o.SoldAt.Time().Add(-back))
}

// appendRejected appends the record of class f (one a consumer rejects) made
// from order o, which it leaves as it was.
func appendRejected(dst []byte, f Fault, o *order.Order) []byte {
	start := len(dst)
	switch f {
	case FaultNotJSON:
		dst = o.AppendJSON(dst)
		return dst[:start+(len(dst)-start)/2]
	case FaultMissing:
		c := *o
		c.Customer = ""
		dst = c.AppendJSON(dst)
		return cutField(dst, start, `,"documento_cliente":""`)
	case FaultWrongType:
		dst = o.AppendJSON(dst)
		rec := dst[start:]
		i := bytes.Index(rec, []byte(`"quantidade":`)) + len(`"quantidade":`)
		j := i + bytes.IndexByte(rec[i:], ',')
		quoted := append([]byte{'"'}, rec[i:j]...)
		quoted = append(quoted, '"')
		out := append(append(append([]byte{}, rec[:i]...), quoted...), rec[j:]...)
		return append(dst[:start], out...)
	case FaultQuantity, FaultPrice, FaultOversized, FaultControl:
		c := *o
		c.Items = append([]order.Item(nil), o.Items...)
		switch f {
		case FaultQuantity:
			c.Items[0].Quantity = 0
		case FaultPrice:
			c.Items[0].UnitPrice = 0
		case FaultOversized:
			for len(c.Items) <= order.MaxItems {
				c.Items = append(c.Items, o.Items[len(c.Items)%len(o.Items)])
			}
		case FaultControl:
			c.Items[0].Name += "\a"
		}
		c.Total = c.ItemsTotal()
		return c.AppendJSON(dst)
	case FaultTotal:
		c := *o
		c.Total++
		return c.AppendJSON(dst)
	case FaultDate:
		c := *o
		c.SoldAt.Day, c.SoldAt.Month = 31, 2
		return c.AppendJSON(dst)
	case FaultCPF:
		c := *o
		cpf := []byte(o.Customer)
		last := len(cpf) - 1
		cpf[last] = '0' + (cpf[last]-'0'+1)%10
		c.Customer = string(cpf)
		return c.AppendJSON(dst)
	}
	return o.AppendJSON(dst)
}

// cutField removes the first field text from the record that starts at
// dst[start].
func cutField(dst []byte, start int, field string) []byte {
	rec := dst[start:]
	i := bytes.Index(rec, []byte(field))
	if i < 0 {
		return dst
	}
	n := copy(rec[i:], rec[i+len(field):])
	return dst[:start+i+n]
}
