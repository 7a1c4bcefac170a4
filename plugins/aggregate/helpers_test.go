package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

const testTopic = "vendas_ecommerce"

var (
	catalogKinds = []string{
		"Notebook", "Smartphone", "Smart TV", "Fone de Ouvido", "Mouse Gamer", "Teclado Mecânico",
		"Monitor", "Cadeira Gamer", "Cafeteira", "Air Fryer", "Geladeira", "Tênis de Corrida",
	}
	catalogBrands = []string{"Dell", "Samsung", "LG", "Philips", "Multilaser"}
)

// realisticCatalog is 60 products (12 kinds × 5 brands) with fixed prices.
func realisticCatalog() []order.Item {
	rng := rand.New(rand.NewPCG(60, 60))
	items := make([]order.Item, 0, len(catalogKinds)*len(catalogBrands))
	for _, k := range catalogKinds {
		for _, b := range catalogBrands {
			items = append(items, order.Item{
				Name:      k + " " + b + " " + strconv.Itoa(100+rng.IntN(900)),
				UnitPrice: order.Cents(990 + rng.Int64N(500000)),
			})
		}
	}
	return items
}

// smallCatalog is a random catalog of n products, names with accents and
// characters JSON must escape.
func smallCatalog(rng *rand.Rand, n int) []order.Item {
	items := make([]order.Item, n)
	for i := range items {
		items[i] = order.Item{
			Name:      fmt.Sprintf("Produto \"%c\" nº %d", 'A'+rune(i%26), i),
			UnitPrice: order.Cents(1 + rng.Int64N(1_000_000)),
		}
	}
	return items
}

func validCPF(rng *rand.Rand) string {
	var base [9]byte
	for {
		for i := range base {
			base[i] = byte(rng.IntN(10))
		}
		cpf := order.AppendCPF(nil, &base)
		if order.ValidateCPF(cpf) == nil {
			return string(cpf)
		}
	}
}

// randomOrder makes a valid order of 1–4 lines from the catalog; a product
// may appear on two lines of the same order.
func randomOrder(rng *rand.Rand, catalog []order.Item, id int) *order.Order {
	o := &order.Order{
		ID:       "ord-" + strconv.Itoa(id),
		Customer: validCPF(rng),
		SoldAt:   order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: uint8(rng.IntN(24)), Minute: uint8(rng.IntN(60)), Second: uint8(rng.IntN(60))},
	}
	for range 1 + rng.IntN(4) {
		it := catalog[rng.IntN(len(catalog))]
		it.Quantity = 1 + rng.Int64N(5)
		o.Items = append(o.Items, it)
	}
	o.Total = o.ItemsTotal()
	return o
}

// naive sums orders the obvious way, to compare with the Aggregator.
type naive struct {
	orders   int64
	value    order.Cents
	products map[string]ProductTotals
}

func newNaive() *naive { return &naive{products: map[string]ProductTotals{}} }

func (n *naive) add(o *order.Order) {
	n.orders++
	n.value += o.Total
	seen := map[string]bool{}
	for _, it := range o.Items {
		p := n.products[it.Name]
		p.Name = it.Name
		p.Units += it.Quantity
		p.Value += order.Cents(it.Quantity) * it.UnitPrice
		if !seen[it.Name] {
			seen[it.Name] = true
			p.Orders++
		}
		n.products[it.Name] = p
	}
}

// kafkaMsg makes a message as kafka_franz does: metadata for people, the
// position in the context (assignment 0: an input without a group).
func kafkaMsg(data []byte, topic string, partition int32, offset int64) *service.Message {
	return assignedMsg(data, topic, partition, offset, 0)
}

func assignedMsg(data []byte, topic string, partition int32, offset int64, assignment uint64) *service.Message {
	m := service.NewMessage(data)
	m.MetaSetMut(kafka.MetaTopic, topic)
	m.MetaSetMut(kafka.MetaPartition, strconv.Itoa(int(partition)))
	m.MetaSetMut(kafka.MetaOffset, strconv.FormatInt(offset, 10))
	return kafka.WithPosition(m, &kafka.Position{Topic: topic, Partition: partition, Offset: offset, Assignment: assignment})
}

// newTestBuffer builds a sales_aggregate from YAML, closed with the test.
func newTestBuffer(t testing.TB, yaml string) *salesAggregate {
	t.Helper()
	conf, err := aggregateSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	b, err := newSalesAggregateFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// ackRecorder records the outcome of input acknowledgements.
type ackRecorder struct {
	mu   sync.Mutex
	errs []error
	done chan struct{}
	n    int
}

func newAckRecorder() *ackRecorder { return &ackRecorder{done: make(chan struct{}, 1<<16)} }

func (a *ackRecorder) fn(onAck func(error)) service.AckFunc {
	return func(_ context.Context, err error) error {
		a.mu.Lock()
		a.errs = append(a.errs, err)
		a.n++
		a.mu.Unlock()
		if onAck != nil {
			onAck(err)
		}
		a.done <- struct{}{}
		return nil
	}
}

// wait blocks until n acknowledgements arrived, failing after a deadline.
func (a *ackRecorder) wait(t testing.TB, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		a.mu.Lock()
		got := a.n
		a.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-a.done:
		case <-deadline:
			t.Fatalf("waited for %d acknowledgements, got %d", n, got)
		}
	}
}

// readAll reads from the buffer until ErrEndOfBuffer, acknowledging
// everything, and splits snapshots from rejected records.
func readAll(t testing.TB, b *salesAggregate) (snaps []*Snapshot, rejected []*service.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		batch, ack, err := b.ReadBatch(ctx)
		if err == service.ErrEndOfBuffer {
			return snaps, rejected
		}
		require.NoError(t, err)
		for _, m := range batch {
			if v, _ := m.MetaGet(MetaSnapshot); v == "true" {
				data, err := m.AsBytes()
				require.NoError(t, err)
				s, err := ParseSnapshot(data)
				require.NoError(t, err, string(data))
				snaps = append(snaps, s)
			} else {
				rejected = append(rejected, m)
			}
		}
		require.NoError(t, ack(ctx, nil))
	}
}

// readReady returns what the buffer has ready now without waiting.
func readReady(t testing.TB, b *salesAggregate) (service.MessageBatch, service.AckFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batch, ack, err := b.ReadBatch(ctx)
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
		return nil, nil
	}
	return batch, ack
}

func productsMap(ps []ProductTotals) map[string]ProductTotals {
	m := make(map[string]ProductTotals, len(ps))
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}
