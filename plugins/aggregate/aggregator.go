// Package aggregate totals sales orders per product: the sales_aggregate
// buffer with its exactly-once state store, and the sales_report processor
// that prints its snapshots for people.
package aggregate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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
	Data      []byte
	Topic     string
	Partition int32
	Offset    int64
	HasOffset bool
}

// Outcome is what Apply did with a record.
type Outcome uint8

// Outcomes of Apply.
const (
	// Applied: a valid order, now in the totals.
	Applied Outcome = iota
	// Rejected: not a valid order; counted in rejeitados only.
	Rejected
	// Duplicate: at or below the last applied offset of its partition; ignored.
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
	Offsets  map[TopicPartition]int64
	// Duplicates skipped since this Aggregator was made (not persisted).
	Duplicates int64
}

// errOverflow rejects an order that would wrap a running total around.
var errOverflow = errors.New(order.FieldTotal + ": the running totals would overflow int64")

type product struct {
	ProductTotals
	lastOrder uint64 // orderSeq of the last order counted in Orders
	snapDirty bool
	since     int64 // offset of the record that first counted it
}

type offsetEntry struct {
	key    TopicPartition
	offset int64
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
	dups     int64
	cur      int64 // offset of the record being applied
	value    order.Cents
	units    int64

	offIndex map[TopicPartition]int32
	offsets  []offsetEntry

	changed   bool    // since the last snapshot
	snapDirty []int32 // products changed since the last snapshot

	seq     uint64  // snapshots taken
	sortIdx []int32 // scratch for snapshots
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	dec := order.NewDecoder()
	dec.SkipIdentity = true // totals need neither the id nor the CPF text
	return &Aggregator{
		dec:      dec,
		index:    make(map[string]int32, 128),
		offIndex: make(map[TopicPartition]int32, 16),
	}
}

// Apply decodes one record strictly and adds it to the totals. A record at or
// below the last applied offset of its partition is a Duplicate and changes
// nothing. An invalid record is Rejected with the decoder's error (an
// *order.DecodeError naming the field) and only counts in rejeitados.
func (a *Aggregator) Apply(r *Record) (Outcome, error) {
	a.cur = r.Offset
	off := int32(-1)
	if r.HasOffset {
		i, ok := a.offIndex[TopicPartition{r.Topic, r.Partition}]
		if ok && r.Offset <= a.offsets[i].offset {
			a.dups++
			return Duplicate, nil
		}
		if !ok {
			i = int32(len(a.offsets))
			a.offsets = append(a.offsets, offsetEntry{key: TopicPartition{r.Topic, r.Partition}, offset: -1})
			a.offIndex[a.offsets[i].key] = i
		}
		off = i
	}
	err := a.dec.Decode(r.Data, &a.o)
	if err == nil {
		err = a.checkOverflow()
	}
	if err == nil && a.MaxProducts > 0 {
		err = a.checkProducts()
	}
	if err != nil {
		a.rejected++
	} else {
		a.add(&a.o)
	}
	a.changed = true
	if off >= 0 {
		a.offsets[off].offset = r.Offset
	}
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

// Rejection says why the record would be rejected if it were counted now at
// offset at, after every record below it: the decoder's error, or the
// product limit's. Overflow cannot be decided again (it needs the totals at
// that offset) and is not reported.
func (a *Aggregator) Rejection(data []byte, at int64) error {
	if err := a.dec.Decode(data, &a.o); err != nil {
		return err
	}
	if a.MaxProducts > 0 {
		return a.checkProductsAt(&a.o, at)
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
	for i := range o.Items {
		it := &o.Items[i]
		p := &a.products[a.productIndex(it.Name)]
		p.Units += it.Quantity
		p.Value += order.Cents(it.Quantity) * it.UnitPrice
		a.units += it.Quantity
		if p.lastOrder != a.orderSeq {
			p.lastOrder = a.orderSeq
			p.Orders++
		}
	}
	a.orders++
	a.value += o.Total
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
		Orders:     a.orders,
		Rejected:   a.rejected,
		Value:      a.value,
		Duplicates: a.dups,
		Products:   make(map[string]ProductTotals, len(a.products)),
		Offsets:    make(map[TopicPartition]int64, len(a.offsets)),
	}
	for i := range a.products {
		t.Products[a.products[i].Name] = a.products[i].ProductTotals
	}
	for _, e := range a.offsets {
		t.Offsets[e.key] = e.offset
	}
	return t
}

// AppendSnapshot appends a snapshot (CONTRACT.md, one line of JSON) to dst
// and starts a new "changed since" period. In ModeUpdate only products
// changed since the previous snapshot are listed; the counts, the grand total
// and the offsets are always complete.
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

	dst = appendSnapshotHead(dst, a.orders, a.rejected, a.value)
	for n, i := range idx {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendProductJSON(dst, &a.products[i].ProductTotals)
	}
	dst = append(dst, `],"modo":"`...)
	dst = append(dst, mode.String()...)
	dst = append(dst, `","offsets":{`...)
	dst = a.appendOffsets(dst)
	dst = appendSnapshotTail(dst, "}", now, a.seq)

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

// appendOffsets writes {"topic":{"partition":offset,...},...} sorted by topic
// and partition, without the enclosing braces.
func (a *Aggregator) appendOffsets(dst []byte) []byte {
	idx := a.sortIdx[:0]
	for i := range a.offsets {
		idx = append(idx, int32(i))
	}
	slices.SortFunc(idx, func(x, y int32) int {
		p, q := a.offsets[x].key, a.offsets[y].key
		if c := strings.Compare(p.Topic, q.Topic); c != 0 {
			return c
		}
		return int(p.Partition) - int(q.Partition)
	})
	a.sortIdx = idx
	return appendOffsetsJSON(dst, len(idx), func(n int) (TopicPartition, int64) {
		e := &a.offsets[idx[n]]
		return e.key, e.offset
	})
}

// loadedState is a partition's totals read back from the state topic.
type loadedState struct {
	products []ProductTotals
	since    []int64 // per product: the offset that first counted it
	offsets  []offsetEntry
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
	for _, e := range st.offsets {
		a.offIndex[e.key] = int32(len(a.offsets))
		a.offsets = append(a.offsets, offsetEntry{key: e.key, offset: e.offset})
	}
	a.orders, a.rejected = st.orders, st.rejected
	a.changed = len(a.products) > 0 || a.orders > 0 || a.rejected > 0
}
