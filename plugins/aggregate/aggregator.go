// Package aggregate totals sales orders per product: the sales_aggregate
// buffer with its exactly-once state store, and the sales_report processor
// that prints its snapshots for people.
package aggregate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Mode says which products a snapshot lists.
type Mode uint8

// Output modes, named as in Spark Structured Streaming.
const (
	// ModeComplete lists every product.
	ModeComplete Mode = iota
	// ModeUpdate lists only the products changed since the previous snapshot.
	ModeUpdate
)

// Mode names as they appear in config and in a snapshot's "modo".
const (
	modeComplete = "complete"
	modeUpdate   = "update"
)

// String is the mode's name in config and snapshots.
func (m Mode) String() string {
	if m == ModeUpdate {
		return modeUpdate
	}
	return modeComplete
}

// ParseMode reads a mode name: complete or update.
func ParseMode(s string) (Mode, error) {
	switch s {
	case modeComplete:
		return ModeComplete, nil
	case modeUpdate:
		return ModeUpdate, nil
	}
	return 0, fmt.Errorf("%q is not one of %s, %s", s, modeComplete, modeUpdate)
}

// Record is one input record: the order bytes and, when it came from Kafka,
// where it sits, which is what makes redeliveries detectable.
type Record struct {
	Data []byte
	// Offset is where the record sits in its partition (0 when it did not
	// come from Kafka): each product remembers the offset that first counted
	// it. Which records to count is sales_aggregate's business, not Apply's.
	Offset int64
}

// Outcome is what Apply did with a record.
type Outcome uint8

// Outcomes of Apply.
const (
	// Applied: a valid order, now in the totals.
	Applied Outcome = iota
	// Rejected: not a valid order; counted in rejeitados only.
	Rejected
	// Duplicate: a valid order whose id_ordem was counted already (with
	// dedupe); counted in duplicados only.
	Duplicate
)

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ProductTotals are the running totals of one product.
type ProductTotals struct {
	Name   string
	Units  int64       // quantidade: units sold
	Orders int64       // pedidos: orders that contain the product
	Value  order.Cents // valor_total
}

// Totals is a copy of an Aggregator's state, for tests and tools.
type Totals struct {
	Orders   int64
	Rejected int64
	Value    order.Cents
	Products map[string]ProductTotals
}

// errOverflow rejects an order that would wrap a running total around.
var errOverflow = errors.New(order.FieldTotal + ": the running totals would overflow int64")

type product struct {
	ProductTotals
	lastOrder uint64 // orderSeq of the last order counted in Orders
	snapDirty bool
	since     int64 // offset of the record that first counted it
}

// Aggregator keeps the totals per product. Its memory grows with the number
// of products and partitions, never with the number of orders. It is not
// safe for concurrent use. The zero value is not usable; call NewAggregator.
type Aggregator struct {
	// MaxProducts, when positive, is the most distinct products; an order
	// that would add more is rejected.
	MaxProducts int

	dec      *order.Decoder
	o        order.Order
	orderSeq uint64

	index    map[string]int32
	products []product
	orders   int64
	rejected int64
	cur      int64 // offset of the record being applied
	value    order.Cents
	units    int64

	changed   bool    // since the last snapshot
	snapDirty []int32 // products changed since the last snapshot

	seq     uint64  // snapshots taken
	sortIdx []int32 // scratch for snapshots

	// win holds the partition's event-time windows; nil without windows.
	win      *partWindows
	winIdx   []int32 // scratch: the product index of each item
	winFirst []bool  // scratch: the item is its product's first in the order
	winAt    int64   // event time of the order being applied
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	dec := order.NewDecoder()
	dec.SkipIdentity = true // totals need neither the id nor the CPF text
	return &Aggregator{
		dec:   dec,
		index: make(map[string]int32, 128),
	}
}

// Apply decodes one record strictly and adds it to the totals. An invalid
// record is Rejected with the decoder's error (an *order.DecodeError naming
// the field) and only counts in rejeitados.
func (a *Aggregator) Apply(r *Record) (Outcome, error) {
	a.cur = r.Offset
	err := a.dec.Decode(r.Data, &a.o)
	if err == nil {
		err = a.checkOverflow()
	}
	if err == nil && a.MaxProducts > 0 {
		err = a.checkProducts()
	}
	if err == nil && a.win != nil {
		a.winAt = a.o.SoldAt.Unix()
		err = a.win.check(a.winAt)
		if err == nil {
			err = a.win.checkSlots(a.winAt, a.slotsNeeded())
		}
		if err != nil {
			if a.win.sh.durable {
				a.win.tooOld[a.cur] = struct{}{} // pruned by the state writes
			}
		} else if a.win.dedupe != nil && a.win.duplicate(a.o.IDHash, a.cur, a.winAt) {
			a.changed = true
			return Duplicate, nil
		}
	}
	if err != nil {
		a.rejected++
	} else {
		a.add(&a.o)
	}
	a.changed = true
	if err != nil {
		return Rejected, err
	}
	return Applied, nil
}

// checkProducts refuses an order that would take the distinct products past
// MaxProducts: the state of a partition is one record on Kafka, and no order
// may make it too large to write.
func (a *Aggregator) checkProducts() error {
	return a.checkProductsAt(&a.o, -1)
}

// checkProductsAt is checkProducts for o as it stood when the record at
// offset at was counted, from the offsets where each product was first
// counted (at < 0: now). A rejected record read again after a restore gets
// the same verdict and reason as the first time.
func (a *Aggregator) checkProductsAt(o *order.Order, at int64) error {
	if len(a.products)+len(o.Items) <= a.MaxProducts {
		return nil
	}
	known := func(name string) bool {
		i, ok := a.index[name]
		return ok && (at < 0 || a.products[i].since < at)
	}
	counted := len(a.products)
	if at >= 0 {
		counted = 0
		for i := range a.products {
			if a.products[i].since < at {
				counted++
			}
		}
	}
	added := 0
	for i := range o.Items {
		name := o.Items[i].Name
		if known(name) {
			continue
		}
		dup := false
		for j := range i {
			if o.Items[j].Name == name {
				dup = true
				break
			}
		}
		if !dup {
			added++
		}
	}
	if counted+added > a.MaxProducts {
		return fmt.Errorf("%s: the order would add %d new products to the %d already counted in this partition, over the limit of %d distinct products (field max_products)",
			order.FieldProducts, added, counted, a.MaxProducts)
	}
	return nil
}

// slotsNeeded is one more than the highest product index the order being
// applied will have: what a window's product slots must reach.
func (a *Aggregator) slotsNeeded() int {
	need, added := 0, 0
	for i := range a.o.Items {
		if idx, ok := a.index[a.o.Items[i].Name]; ok {
			need = max(need, int(idx)+1)
		} else {
			added++
			need = max(need, len(a.products)+added)
		}
	}
	return need
}

// Rejection says why the record would be rejected if it were counted now at
// offset at, after every record below it: the decoder's error, or the
// product limit's. Overflow cannot be decided again (it needs the totals at
// that offset) and is not reported. With dedupe, a valid order's id is
// remembered again, as when it was counted.
func (a *Aggregator) Rejection(data []byte, at int64) error {
	if err := a.dec.Decode(data, &a.o); err != nil {
		return err
	}
	if a.MaxProducts > 0 {
		if err := a.checkProductsAt(&a.o, at); err != nil {
			return err
		}
	}
	if a.win != nil {
		if _, ok := a.win.tooOld[at]; ok {
			return fmt.Errorf("%s: the sale at %s was rejected when the record was first counted: older than the windows kept, too far ahead of the clock, or over max_window_products (it went to the rejected records then)",
				order.FieldSoldAt, a.o.SoldAt)
		}
		if a.win.dedupe != nil {
			// Counted before the restore: remember its id again.
			a.win.rememberAgain(a.o.IDHash, at, a.o.SoldAt.Unix())
		}
	}
	return nil
}

func (a *Aggregator) checkOverflow() error {
	var units int64
	for i := range a.o.Items {
		units += a.o.Items[i].Quantity
	}
	if a.o.Total > math.MaxInt64-a.value || units > math.MaxInt64-a.units {
		return errOverflow
	}
	return nil
}

// add puts a valid order in the totals. Every product value is at most the
// grand total, so checkOverflow on the grand total covers them all.
func (a *Aggregator) add(o *order.Order) {
	a.orderSeq++
	if a.win != nil {
		a.winIdx, a.winFirst = a.winIdx[:0], a.winFirst[:0]
	}
	for i := range o.Items {
		it := &o.Items[i]
		pi := a.productIndex(it.Name)
		p := &a.products[pi]
		p.Units += it.Quantity
		p.Value += order.Cents(it.Quantity) * it.UnitPrice
		a.units += it.Quantity
		first := p.lastOrder != a.orderSeq
		if first {
			p.lastOrder = a.orderSeq
			p.Orders++
		}
		if a.win != nil {
			a.winIdx, a.winFirst = append(a.winIdx, pi), append(a.winFirst, first)
		}
	}
	a.orders++
	a.value += o.Total
	if a.win != nil {
		a.win.addOrder(o, a.winAt, a.winIdx, a.winFirst)
	}
}

// productIndex finds or creates a product and marks it changed.
func (a *Aggregator) productIndex(name string) int32 {
	i, ok := a.index[name]
	if !ok {
		i = int32(len(a.products))
		a.products = append(a.products, product{ProductTotals: ProductTotals{Name: name}, since: a.cur})
		a.index[name] = i
	}
	p := &a.products[i]
	if !p.snapDirty {
		p.snapDirty = true
		a.snapDirty = append(a.snapDirty, i)
	}
	return i
}

// Changed reports whether anything was applied or rejected since the last
// snapshot.
func (a *Aggregator) Changed() bool { return a.changed }

// Products is the number of distinct products.
func (a *Aggregator) Products() int { return len(a.products) }

// Orders is the number of valid orders in the totals.
func (a *Aggregator) Orders() int64 { return a.orders }

// Totals returns a copy of the state.
func (a *Aggregator) Totals() Totals {
	t := Totals{
		Orders:   a.orders,
		Rejected: a.rejected,
		Value:    a.value,
		Products: make(map[string]ProductTotals, len(a.products)),
	}
	for i := range a.products {
		t.Products[a.products[i].Name] = a.products[i].ProductTotals
	}
	return t
}

// AppendSnapshot appends a snapshot (CONTRACT.md, one line of JSON) to dst
// and starts a new "changed since" period. In ModeUpdate only products
// changed since the previous snapshot are listed; the counts and the grand
// total are always complete. An Aggregator knows no positions: offsets and
// particoes are empty (sales_aggregate's snapshots fill them).
func (a *Aggregator) AppendSnapshot(dst []byte, mode Mode, now time.Time) []byte {
	a.seq++
	idx := a.sortIdx[:0]
	if mode == ModeUpdate {
		idx = append(idx, a.snapDirty...)
	} else {
		for i := range a.products {
			idx = append(idx, int32(i))
		}
	}
	slices.SortFunc(idx, a.byValueDesc)
	a.sortIdx = idx

	dst = appendSnapshotHead(dst, a.orders, a.rejected, -1, a.value)
	for n, i := range idx {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendProductJSON(dst, &a.products[i].ProductTotals)
	}
	dst = append(dst, `],"modo":"`...)
	dst = append(dst, mode.String()...)
	dst = appendSnapshotTail(dst, `","offsets":{},"particoes":[]`, now, a.seq)

	for _, i := range a.snapDirty {
		a.products[i].snapDirty = false
	}
	a.snapDirty = a.snapDirty[:0]
	a.changed = false
	return dst
}

func (a *Aggregator) byValueDesc(x, y int32) int {
	return byValueDesc(&a.products[x].ProductTotals, &a.products[y].ProductTotals)
}

// loadedState is a partition's totals read back from the state topic.
type loadedState struct {
	products []ProductTotals
	since    []int64 // per product: the offset that first counted it
	orders   int64
	rejected int64
}

// restore loads totals read from a store into an empty Aggregator. They
// count as changed for the next snapshot but not for the next commit.
func (a *Aggregator) restore(st *loadedState) {
	for n, p := range st.products {
		i := int32(len(a.products))
		var since int64
		if n < len(st.since) {
			since = st.since[n]
		}
		a.products = append(a.products, product{ProductTotals: p, snapDirty: true, since: since})
		a.index[p.Name] = i
		a.snapDirty = append(a.snapDirty, i)
		a.value += p.Value
		a.units += p.Units
	}
	a.orders, a.rejected = st.orders, st.rejected
	a.changed = len(a.products) > 0 || a.orders > 0 || a.rejected > 0
}
