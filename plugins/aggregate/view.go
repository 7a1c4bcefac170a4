package aggregate

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// snapshotView adds up the partitions into the totals a snapshot shows, and
// remembers the previous ones for update mode.
type snapshotView struct {
	totals map[string]*ProductTotals
	prev   map[string]ProductTotals
	rows   []*ProductTotals // the rows of the snapshot's mode
	all    []*ProductTotals // in update mode with a live view: every row, sorted
	parts  []viewPart
	seq    uint64

	orders, rejected int64
	value            order.Cents
	// dups is duplicados, with dedupe; -1 without.
	dups int64

	// overflow names what a sum over partitions could not hold: shown at
	// the largest int64 and listed in the snapshot's estouro.
	overflow overflow
	warned   map[string]bool // overflows already logged (bounded)
}

// overflow is what a sum over partitions could not hold: the line's own
// fields (pedidos, rejeitados, duplicados, atrasados, valor_total) and its
// products, kept apart since a product may have any name.
type overflow struct {
	fields, products []string
}

func (o *overflow) reset() { o.fields, o.products = o.fields[:0], o.products[:0] }

func (o *overflow) len() int { return len(o.fields) + len(o.products) }

func (o *overflow) field(name string) {
	if !slices.Contains(o.fields, name) {
		o.fields = append(o.fields, name)
	}
}

func (o *overflow) product(name string) {
	if !slices.Contains(o.products, name) {
		o.products = append(o.products, name)
	}
}

// count adds n to *sum, naming the line's field in o if it does not fit.
func count[T ~int64](o *overflow, sum *T, n T, field string) {
	if !addChecked(sum, n) {
		o.field(field)
	}
}

// addTotals adds a product's totals to t, naming the product in o if they
// do not fit.
func (o *overflow) addTotals(t *ProductTotals, units, orders int64, value order.Cents) {
	ok := addChecked(&t.Units, units)
	ok = addChecked(&t.Orders, orders) && ok
	if !(addChecked(&t.Value, value) && ok) {
		o.product(t.Name)
	}
}

// appendJSON writes ,"estouro":{...} when something overflowed, sorted.
func (o *overflow) appendJSON(dst []byte) []byte {
	if o.len() == 0 {
		return dst
	}
	slices.Sort(o.fields)
	slices.Sort(o.products)
	dst = append(dst, `,"estouro":{"campos":[`...)
	for i, name := range o.fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = order.AppendString(dst, name)
	}
	dst = append(dst, `],"produtos":[`...)
	for i, name := range o.products {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = order.AppendString(dst, name)
	}
	return append(dst, "]}"...)
}

// overflowDoc is estouro read back.
type overflowDoc struct {
	Campos   []string `json:"campos"`
	Produtos []string `json:"produtos"`
}

// warnOverflow logs, once for each (what) and name, what a line could not
// sum; the memory of what was logged is bounded.
func (b *salesAggregate) warnOverflow(what string, o *overflow) {
	if b.view.warned == nil || len(b.view.warned) >= 1024 {
		b.view.warned = map[string]bool{}
	}
	for _, list := range [...]struct {
		kind  string
		names []string
	}{{"field", o.fields}, {"product", o.products}} {
		for _, name := range list.names {
			key := what + "\x00" + list.kind + "\x00" + name
			if b.view.warned[key] {
				continue
			}
			b.view.warned[key] = true
			b.log.Errorf("%s: the %s %q summed over the partitions exceeds int64 (R$ 92 quadrillion in valor_total): shown at the largest int64 and listed in estouro. Each partition's totals are checked and exact (on the state topic when there is one); only their sum does not fit", what, list.kind, name)
		}
	}
}

// addChecked adds b to *a, and at either end of int64 stays there and
// reports false instead of wrapping around. Every partition's totals are
// checked against int64 as they are counted; their sum over partitions is
// checked here.
func addChecked[T ~int64](a *T, b T) bool {
	switch {
	case b > 0 && *a > math.MaxInt64-b:
		*a = math.MaxInt64
		return false
	case b < 0 && *a < math.MinInt64-b:
		*a = math.MinInt64
		return false
	}
	*a += b
	return true
}

// viewPart is one partition as a snapshot shows it.
type viewPart struct {
	tp    TopicPartition
	next  int64
	owner string
}

func (v *snapshotView) init() {
	v.totals = map[string]*ProductTotals{}
	v.prev = map[string]ProductTotals{}
}

func (v *snapshotView) add(p *ProductTotals) {
	t := v.totals[p.Name]
	if t == nil {
		t = &ProductTotals{Name: p.Name}
		v.totals[p.Name] = t
	}
	v.overflow.addTotals(t, p.Units, p.Orders, p.Value)
}

// appendSnapshotLocked writes a snapshot of every partition: the ones this
// member counts as they are now, the others as the state topic last showed
// them, and the records that came without a Kafka position.
func (b *salesAggregate) appendSnapshotLocked(dst []byte, mode Mode, now time.Time) []byte {
	v := &b.view
	for _, t := range v.totals {
		*t = ProductTotals{Name: t.Name}
	}
	v.parts = v.parts[:0]
	v.overflow.reset()
	var orders, rejected int64
	dups := int64(-1)
	if b.win != nil && b.win.conf.dedupe {
		dups = 0
	}
	o := &v.overflow
	addAgg := func(a *Aggregator) {
		count(o, &orders, a.orders, "pedidos")
		count(o, &rejected, a.rejected, "rejeitados")
		if a.win != nil && a.win.dedupe != nil {
			count(o, &dups, a.win.dedupe.dups, "duplicados")
		}
		for i := range a.products {
			v.add(&a.products[i].ProductTotals)
		}
	}
	addAgg(b.mem)
	// A partition counted here is shown as counted here while it is live,
	// or while the state topic shows less of it (revoked, and our last
	// write not read back yet): snapshots never go back.
	for _, lp := range b.parts {
		if !lp.live && b.cl != nil {
			if s := b.cl.state(lp.tp); s != nil && s.Next >= lp.next {
				continue
			}
		}
		addAgg(lp.agg)
		v.parts = append(v.parts, viewPart{tp: lp.tp, next: lp.next, owner: b.member})
	}
	if b.cl != nil {
		b.cl.each(func(s *partitionState) {
			if lp := b.parts[s.tp()]; lp != nil && (lp.live || lp.next > s.Next) {
				return
			}
			count(o, &orders, s.Orders, "pedidos")
			count(o, &rejected, s.Rejected, "rejeitados")
			if dups >= 0 && s.DedupeFrom >= 0 {
				count(o, &dups, s.Duplicates, "duplicados")
			}
			for i := range s.Products {
				v.add(&s.Products[i])
			}
			v.parts = append(v.parts, viewPart{tp: s.tp(), next: s.Next, owner: s.Writer})
		})
	}

	v.rows = v.rows[:0]
	v.all = v.all[:0]
	// The live view shows every product whatever the mode.
	keepAll := mode == ModeUpdate && b.live != nil
	var value order.Cents
	products := 0
	for name, t := range v.totals {
		count(o, &value, t.Value, "valor_total")
		if t.Units == 0 && t.Orders == 0 && t.Value == 0 {
			continue
		}
		products++
		if keepAll {
			v.all = append(v.all, t)
		}
		if mode == ModeUpdate {
			if p, ok := v.prev[name]; ok && p == *t {
				continue
			}
		}
		v.rows = append(v.rows, t)
	}
	for name, t := range v.totals {
		v.prev[name] = *t
	}
	slices.SortFunc(v.rows, byValueDesc)
	if keepAll {
		slices.SortFunc(v.all, byValueDesc)
	}
	slices.SortFunc(v.parts, func(x, y viewPart) int {
		if c := strings.Compare(x.tp.Topic, y.tp.Topic); c != 0 {
			return c
		}
		return int(x.tp.Partition) - int(y.tp.Partition)
	})
	v.seq++
	v.orders, v.rejected, v.value, v.dups = orders, rejected, value, dups
	if v.overflow.len() > 0 {
		b.warnOverflow("Snapshot", &v.overflow)
	}
	// The products the totals show, over every partition.
	b.mProducts.Set(int64(products))
	return v.appendJSON(dst, v.rows, mode, now)
}

// appendJSON writes the snapshot v holds, with rows as its products.
func (v *snapshotView) appendJSON(dst []byte, rows []*ProductTotals, mode Mode, now time.Time) []byte {
	dst = appendSnapshotHead(dst, v.orders, v.rejected, v.dups, v.value)
	for i, t := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendProductJSON(dst, t)
	}
	dst = append(dst, ']')
	dst = v.overflow.appendJSON(dst)
	dst = append(dst, `,"modo":"`...)
	dst = append(dst, mode.String()...)
	dst = append(dst, `","offsets":{`...)
	dst = appendOffsetsJSON(dst, len(v.parts), func(i int) (TopicPartition, int64) {
		return v.parts[i].tp, v.parts[i].next - 1
	})
	dst = append(dst, `},"particoes":[`...)
	for i := range v.parts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(v.parts[i].appendFields(dst), '}')
	}
	return appendSnapshotTail(dst, "]", now, v.seq)
}

// appendFields writes the partition's fields of a snapshot's particoes, from
// the opening brace on, leaving the object open.
func (p *viewPart) appendFields(dst []byte) []byte {
	dst = append(dst, `{"topico":`...)
	dst = order.AppendString(dst, p.tp.Topic)
	dst = append(dst, `,"particao":`...)
	dst = strconv.AppendInt(dst, int64(p.tp.Partition), 10)
	dst = append(dst, `,"proximo_offset":`...)
	dst = strconv.AppendInt(dst, p.next, 10)
	dst = append(dst, `,"dono":`...)
	return order.AppendString(dst, p.owner)
}

func byValueDesc(p, q *ProductTotals) int {
	if p.Value != q.Value {
		if p.Value > q.Value {
			return -1
		}
		return 1
	}
	return strings.Compare(p.Name, q.Name)
}

// appendOffsetsJSON writes {"topic":{"partition":offset,...},...} without the
// enclosing braces, for n partitions sorted by topic and partition.
func appendOffsetsJSON(dst []byte, n int, at func(int) (TopicPartition, int64)) []byte {
	var prev string
	for i := range n {
		tp, off := at(i)
		if i == 0 || tp.Topic != prev {
			if i > 0 {
				dst = append(dst, "},"...)
			}
			dst = order.AppendString(dst, tp.Topic)
			dst = append(dst, ":{"...)
		} else {
			dst = append(dst, ',')
		}
		prev = tp.Topic
		dst = append(dst, '"')
		dst = strconv.AppendInt(dst, int64(tp.Partition), 10)
		dst = append(dst, `":`...)
		dst = strconv.AppendInt(dst, off, 10)
	}
	if n > 0 {
		dst = append(dst, '}')
	}
	return dst
}

// appendSnapshotHead writes a snapshot up to the opening of "produtos";
// duplicados only when dups is not negative (with dedupe).
func appendSnapshotHead(dst []byte, orders, rejected, dups int64, value order.Cents) []byte {
	dst = append(dst, `{"pedidos":`...)
	dst = strconv.AppendInt(dst, orders, 10)
	dst = append(dst, `,"rejeitados":`...)
	dst = strconv.AppendInt(dst, rejected, 10)
	if dups >= 0 {
		dst = append(dst, `,"duplicados":`...)
		dst = strconv.AppendInt(dst, dups, 10)
	}
	dst = append(dst, `,"valor_total":`...)
	dst = value.AppendJSON(dst)
	return append(dst, `,"produtos":[`...)
}

// appendSnapshotTail closes what is open (closing) and writes emitido_em and
// sequencia.
func appendSnapshotTail(dst []byte, closing string, now time.Time, seq uint64) []byte {
	dst = append(dst, closing...)
	dst = append(dst, `,"emitido_em":"`...)
	dst = now.In(order.SaoPaulo).AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","sequencia":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	return append(dst, '}')
}

// appendProductJSON writes one product of a snapshot or a state record.
func appendProductJSON(dst []byte, p *ProductTotals) []byte {
	dst = append(dst, `{"produto":`...)
	dst = order.AppendString(dst, p.Name)
	dst = append(dst, `,"quantidade":`...)
	dst = strconv.AppendInt(dst, p.Units, 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, p.Orders, 10)
	dst = append(dst, `,"valor_total":`...)
	dst = p.Value.AppendJSON(dst)
	return append(dst, '}')
}
