// Package generator makes realistic, verifiable Brazilian e-commerce orders
// and registers the sales_orders input that streams them.
package generator

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Options are everything that shapes the orders. The same Options and Seed
// give the same orders, byte for byte, however they are batched.
type Options struct {
	Seed           int64
	Catalog        []Product
	Customers      int     // recurring customers; 0 means every order is a new customer
	MaxItems       int     // distinct products per order, at most
	MaxQuantity    int     // units of one product per order, at most
	PopularitySkew float64 // Zipf exponent over catalog order; 0 = uniform
	BasketDecay    float64 // P(k+1 products) / P(k products)
	QuantityDecay  float64 // P(q+1 units) / P(q units)
	Clock          Clock
	// Instance numbers producers that share a seed: each instance makes its
	// own orders, with ids no other instance makes. Instance 0 makes the
	// orders the seed always made.
	Instance int
	// Faults are the labelled bad records, duplicates and late events mixed
	// into the stream (faults.go); the zero value injects none.
	Faults FaultRates
	// EventTime is how far back fora_de_ordem and atrasado move an event
	// time; the zero value is the defaults.
	EventTime EventTime
}

// MaxInstance is the largest instance number: it fills 16 bits of the ids.
const MaxInstance = 1<<16 - 1

// Clock says where event times come from.
type Clock struct {
	// Simulated time starts at Start and runs Speed times faster than the
	// order rate: order i happens at Start + Speed × (i + jitter) / Rate.
	Simulated bool
	Start     time.Time
	Speed     float64
	Rate      float64 // orders per real second the timeline assumes (> 0)
	// Now is the wall clock (tests replace it).
	Now func() time.Time
}

// Generator produces orders one after another. Not safe for concurrent use.
type Generator struct {
	opts      Options
	rng       *rand.Rand
	catalog   []Product
	popCum    []float64
	basketCum []float64
	qtyCum    []float64
	pool      []string
	picked    []int
	items     []order.Item
	seq       uint64

	lastSec   int64
	lastLocal order.LocalTime
	stepNanos float64
	startNano int64
	idBuf     [36]byte
}

// New checks opts and returns a Generator.
func New(opts Options) (*Generator, error) {
	if err := ValidateCatalog(opts.Catalog); err != nil {
		return nil, err
	}
	switch {
	case opts.Customers < 0:
		return nil, fmt.Errorf("customers must be 0 or more, got %d", opts.Customers)
	case opts.MaxItems < 1:
		return nil, fmt.Errorf("max_items must be at least 1, got %d", opts.MaxItems)
	case opts.MaxQuantity < 1 || opts.MaxQuantity > order.MaxQuantity:
		return nil, fmt.Errorf("max_quantity must be from 1 to %d, got %d", order.MaxQuantity, opts.MaxQuantity)
	case opts.PopularitySkew < 0 || math.IsNaN(opts.PopularitySkew):
		return nil, fmt.Errorf("popularity_skew must be 0 or more, got %v", opts.PopularitySkew)
	case !(opts.BasketDecay > 0 && opts.BasketDecay <= 1):
		return nil, fmt.Errorf("basket_decay must be in (0, 1], got %v", opts.BasketDecay)
	case !(opts.QuantityDecay > 0 && opts.QuantityDecay <= 1):
		return nil, fmt.Errorf("quantity_decay must be in (0, 1], got %v", opts.QuantityDecay)
	case opts.Instance < 0 || opts.Instance > MaxInstance:
		return nil, fmt.Errorf("instance must be from 0 to %d, got %d", MaxInstance, opts.Instance)
	}
	if err := opts.Faults.validate(); err != nil {
		return nil, err
	}
	if err := opts.EventTime.withDefaults().validate(); err != nil {
		return nil, err
	}
	if opts.Clock.Simulated && !(opts.Clock.Speed > 0 && opts.Clock.Rate > 0) {
		return nil, errors.New("simulated clock needs speed > 0 and a rate > 0")
	}
	if opts.Clock.Now == nil {
		opts.Clock.Now = time.Now
	}
	if opts.MaxItems > len(opts.Catalog) {
		opts.MaxItems = len(opts.Catalog)
	}
	// The order total must fit the decoder's limits, or consumers would
	// reject what we make.
	var dearest order.Cents
	for _, p := range opts.Catalog {
		dearest = max(dearest, p.Price)
	}
	if worst := dearest * order.Cents(opts.MaxQuantity) * order.Cents(opts.MaxItems); worst > order.MaxTotal {
		return nil, fmt.Errorf("max_items × max_quantity × the dearest price (%s) can exceed the largest order total %s", worst, order.MaxTotal)
	}

	g := &Generator{
		opts:    opts,
		rng:     gofakeit.NewUnlocked(opts.Seed).Rand,
		catalog: opts.Catalog,
		picked:  make([]int, 0, opts.MaxItems),
		items:   make([]order.Item, 0, opts.MaxItems),
		lastSec: math.MinInt64,
	}
	g.popCum = cumulative(len(opts.Catalog), func(k int) float64 { return 1 / math.Pow(float64(k+1), opts.PopularitySkew) })
	g.basketCum = cumulative(opts.MaxItems, func(k int) float64 { return math.Pow(opts.BasketDecay, float64(k)) })
	g.qtyCum = cumulative(opts.MaxQuantity, func(k int) float64 { return math.Pow(opts.QuantityDecay, float64(k)) })
	if opts.Clock.Simulated {
		g.stepNanos = float64(time.Second) * opts.Clock.Speed / opts.Clock.Rate
		g.startNano = opts.Clock.Start.UnixNano()
	}
	g.pool = make([]string, opts.Customers)
	for i := range g.pool {
		g.pool[i] = g.newCPF()
	}
	// Every instance shares the seed's customers; the orders of instance k > 0
	// come from a source of their own, so that instance 0 stays what the seed
	// always gave.
	if opts.Instance > 0 {
		g.rng = gofakeit.NewUnlocked(int64(mix64(uint64(opts.Seed), uint64(opts.Instance)))).Rand
	}
	return g, nil
}

// cumulative returns normalised cumulative weights for sampling by binary
// search.
func cumulative(n int, weight func(k int) float64) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for k := range n {
		total += weight(k)
		cum[k] = total
	}
	for k := range cum {
		cum[k] /= total
	}
	cum[n-1] = 1
	return cum
}

func (g *Generator) sample(cum []float64) int {
	u := g.rng.Float64()
	return sort.SearchFloat64s(cum, u)
}

func (g *Generator) newCPF() string {
	var base [9]byte
	for {
		x := g.rng.Uint64()
		same := true
		for i := range base {
			base[i] = byte(x % 10)
			x /= 10
			same = same && base[i] == base[0]
		}
		if !same { // 000.000.000-00 and the like are invalid by rule
			break
		}
	}
	return string(order.AppendCPF(make([]byte, 0, order.CPFLen), &base))
}

// Seq is how many orders have been generated.
func (g *Generator) Seq() uint64 { return g.seq }

// SkipTo generates and drops orders until the next one is seq (from 1), so
// that a run started at seq makes the orders a run from 1 makes there.
func (g *Generator) SkipTo(seq uint64) {
	var o order.Order
	for g.seq+1 < seq {
		g.Next(&o)
	}
}

// mix64 derives a seed from a and b (splitmix64's finaliser over both).
func mix64(a, b uint64) uint64 {
	z := a ^ (b+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Next fills o with the next order. o.Items is reused and stays valid until
// the next call.
func (g *Generator) Next(o *order.Order) {
	i := g.seq
	g.seq++
	o.ID = g.newID(g.seq)
	if len(g.pool) > 0 {
		// Squaring a uniform draw makes low-numbered customers come back more
		// often: a few loyal buyers, many occasional ones.
		u := g.rng.Float64()
		o.Customer = g.pool[int(u*u*float64(len(g.pool)))]
	} else {
		o.Customer = g.newCPF()
	}

	n := g.sample(g.basketCum) + 1
	g.picked = g.picked[:0]
	g.items = g.items[:0]
	var total order.Cents
	for len(g.picked) < n {
		p := g.sample(g.popCum)
		if contains(g.picked, p) {
			continue
		}
		g.picked = append(g.picked, p)
		q := int64(g.sample(g.qtyCum) + 1)
		prod := &g.catalog[p]
		g.items = append(g.items, order.Item{Name: prod.Name, Quantity: q, UnitPrice: prod.Price})
		total += order.Cents(q) * prod.Price
	}
	o.Items = g.items
	o.Total = total
	o.SoldAt = g.eventTime(i)
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (g *Generator) eventTime(i uint64) order.LocalTime {
	var ns int64
	if g.opts.Clock.Simulated {
		ns = g.startNano + int64((float64(i)+g.rng.Float64())*g.stepNanos)
	} else {
		ns = g.opts.Clock.Now().UnixNano()
	}
	sec := ns / int64(time.Second)
	if sec != g.lastSec {
		g.lastSec = sec
		g.lastLocal = order.LocalTimeOf(time.Unix(sec, 0))
	}
	return g.lastLocal
}

const hexDigits = "0123456789abcdef"

// newID is a version 4 UUID drawn from the seeded source, so ids repeat with
// the seed and never collide in practice. Instance k > 0 makes version 8
// UUIDs (RFC 9562) that hold k in their first 16 bits and seq in their last
// 62: no two instances, and no instance and instance 0, can make one id.
func (g *Generator) newID(seq uint64) string {
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	if k := g.opts.Instance; k > 0 {
		hi = uint64(k)<<48 | hi&0x0000_ffff_ffff_0fff | 0x8<<12 // version 8
		lo = 0x2<<62 | seq&(1<<62-1)                            // RFC 4122 variant
	} else {
		hi = hi&^(0xf<<12) | 0x4<<12 // version 4
		lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	}
	b := &g.idBuf
	j := 0
	put := func(v uint64, from, to int) {
		for shift := from; shift >= to; shift -= 4 {
			b[j] = hexDigits[(v>>uint(shift))&0xf]
			j++
		}
	}
	put(hi, 60, 32)
	b[j] = '-'
	j++
	put(hi, 28, 16)
	b[j] = '-'
	j++
	put(hi, 12, 0)
	b[j] = '-'
	j++
	put(lo, 60, 48)
	b[j] = '-'
	j++
	put(lo, 44, 0)
	return string(b[:])
}
