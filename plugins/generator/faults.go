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
	FaultOutOfOrder       // fora_de_ordem: event time up to event_time.disorder_max (10m) before its neighbours'
	FaultLate             // atrasado: event time event_time.late_min to late_max (1h to 24h) before its neighbours'
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
	// How far back fora_de_ordem and atrasado move an event time.
	disorder, late shiftRange
}

func newFaultPicker(opts *Options) faultPicker {
	p := faultPicker{any: opts.Faults.Any(), seed: mix64(uint64(opts.Seed)^0x66616c6861, uint64(opts.Instance))}
	p.disorder, p.late = opts.EventTime.ranges()
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

// shift moves an out-of-order or late order's event time back. Its totals
// stay: only when it happened changes.
func (p *faultPicker) shift(o *order.Order, f Fault, bits uint64) {
	var back time.Duration
	switch f {
	case FaultOutOfOrder:
		back = p.disorder.draw(bits)
	case FaultLate:
		back = p.late.draw(bits)
	default:
		return
	}
	o.SoldAt = order.LocalTimeOf(o.SoldAt.Time().Add(-back))
}

// EventTime is how far back the fora_de_ordem and atrasado faults move an
// order's event time, in whole seconds. A zero field means its default.
type EventTime struct {
	// DisorderMax bounds fora_de_ordem: it moves an event time back by at
	// least min(1m, DisorderMax/10) (1s at the least) and less than
	// DisorderMax (exactly 1s when DisorderMax is 1s).
	DisorderMax time.Duration
	// LateMin and LateMax bound atrasado: back by at least LateMin and
	// less than LateMax, or exactly LateMin when the two are equal.
	LateMin, LateMax time.Duration
}

// The defaults of EventTime, which give the shifts fora_de_ordem (1 to 10
// minutes) and atrasado (1 to 24 hours) always had, and the largest shift.
const (
	DefaultDisorderMax = 10 * time.Minute
	DefaultLateMin     = time.Hour
	DefaultLateMax     = 24 * time.Hour
	MaxEventShift      = 7 * 24 * time.Hour
)

// withDefaults is e with every zero field at its default.
func (e EventTime) withDefaults() EventTime {
	if e.DisorderMax == 0 {
		e.DisorderMax = DefaultDisorderMax
	}
	if e.LateMin == 0 {
		e.LateMin = DefaultLateMin
	}
	if e.LateMax == 0 {
		e.LateMax = DefaultLateMax
	}
	return e
}

// validate checks e as given: a zero field is refused, as in a config.
func (e EventTime) validate() error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{fieldEventTime + "." + fieldDisorderMax, e.DisorderMax},
		{fieldEventTime + "." + fieldLateMin, e.LateMin},
		{fieldEventTime + "." + fieldLateMax, e.LateMax},
	} {
		if err := checkShift(d.field, d.v); err != nil {
			return err
		}
	}
	if e.LateMin > e.LateMax {
		return fmt.Errorf("%s.%s (%v) must not be more than %s.%s (%v)",
			fieldEventTime, fieldLateMin, e.LateMin, fieldEventTime, fieldLateMax, e.LateMax)
	}
	return nil
}

// checkShift checks one event_time duration. Event times are to the second,
// so a fraction of a second would be lost.
func checkShift(field string, v time.Duration) error {
	switch {
	case v <= 0:
		return fmt.Errorf("%s must be a positive duration, got %v", field, v)
	case v%time.Second != 0:
		return fmt.Errorf("%s must be a whole number of seconds (event times are to the second), got %v", field, v)
	case v > MaxEventShift:
		return fmt.Errorf("%s must be at most %v (7 days), got %v", field, MaxEventShift, v)
	}
	return nil
}

// shiftRange is lo + [0, span) seconds, or lo when span is 0.
type shiftRange struct{ lo, span uint64 }

// draw is the shift of the order whose detail bits are bits. With the
// defaults it draws exactly what fora_de_ordem (1m + bits%540 s) and
// atrasado (1h + bits%82800 s) always drew, so seeded output is unchanged.
func (r shiftRange) draw(bits uint64) time.Duration {
	s := r.lo
	if r.span > 0 {
		s += bits % r.span
	}
	return time.Duration(s) * time.Second
}

// ranges are the shifts of fora_de_ordem and atrasado (e valid, or zero).
func (e EventTime) ranges() (disorder, late shiftRange) {
	e = e.withDefaults()
	maxS := uint64(e.DisorderMax / time.Second)
	lo := max(min(60, maxS/10), 1) // at most maxS, which is 1 or more
	disorder = shiftRange{lo: lo, span: maxS - lo}
	late = shiftRange{lo: uint64(e.LateMin / time.Second), span: uint64((e.LateMax - e.LateMin) / time.Second)}
	return disorder, late
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
