package generator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// TestOrdersMeetContract decodes 100 000 generated orders with the strict
// decoder: valid CPFs, exact totals, valid dates, unique ids.
func TestOrdersMeetContract(t *testing.T) {
	g, err := New(testOptions(7))
	require.NoError(t, err)
	dec := order.NewDecoder()
	var o, back order.Order
	ids := make(map[string]struct{}, 100_000)
	products := map[string]int{}
	customers := map[string]int{}
	var buf []byte
	for i := range 100_000 {
		g.Next(&o)
		buf = o.AppendJSON(buf[:0])
		require.NoError(t, dec.Decode(buf, &back), "order %d: %s", i, buf)
		require.NoError(t, order.ValidateCPF([]byte(back.Customer)))
		var sum order.Cents
		for _, it := range back.Items {
			sum += order.Cents(it.Quantity) * it.UnitPrice
		}
		require.Equal(t, sum, back.Total)
		_, dup := ids[back.ID]
		require.False(t, dup, "duplicate id %s", back.ID)
		ids[back.ID] = struct{}{}
		for _, it := range back.Items {
			products[it.Name]++
		}
		customers[back.Customer]++
	}
	assert.GreaterOrEqual(t, len(products), 50, "products seen")
	assert.LessOrEqual(t, len(customers), 5000, "customers come from the pool")
	// Skew: the best seller sells far more than the median product.
	first := products[DefaultCatalog()[0].Name]
	last := products[DefaultCatalog()[len(DefaultCatalog())-1].Name]
	assert.Greater(t, first, 10*last, "popularity is skewed")
}

func TestDefaultCatalog(t *testing.T) {
	c := DefaultCatalog()
	require.GreaterOrEqual(t, len(c), 50)
	require.NoError(t, ValidateCatalog(c))
	for _, p := range c {
		assert.NotEmpty(t, p.Category, p.Name)
	}
}

func TestValidateCatalog(t *testing.T) {
	cases := []struct {
		name     string
		products []Product
		want     string
	}{
		{"empty", nil, "catalog is empty"},
		{"no name", []Product{{Price: 100}}, "catalog[0]: nome is empty"},
		{"zero price", []Product{{Name: "A", Price: 0}}, `catalog[0] "A": preco must be greater than 0`},
		{"two prices", []Product{{Name: "A", Price: 100}, {Name: "A", Price: 200}}, `catalog[1] "A": one name with two prices (1.00 at catalog[0], 2.00 here)`},
		{"twice", []Product{{Name: "A", Price: 100}, {Name: "A", Price: 100}}, "listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateCatalog(tc.products)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// runInput runs sales_orders with the given YAML body into a capturing
// output and returns every message's bytes, in order.
func runInput(t *testing.T, inputYAML string) [][]byte {
	t.Helper()
	return values(runRecords(t, inputYAML, nil))
}

func TestSeedIsDeterministicAcrossBatchSizes(t *testing.T) {
	conf := func(batch int, seed string) string {
		return `
sales_orders:
  count: 5000
  rate: 0
  seed: "` + seed + `"
  batch_size: ` + itoa(batch)
	}
	a := runInput(t, conf(1, "42"))
	b := runInput(t, conf(1000, "42"))
	c := runInput(t, conf(333, "42"))
	d := runInput(t, conf(1000, "43"))
	require.Len(t, a, 5000)
	assert.Equal(t, a, b, "batch size 1 vs 1000")
	assert.Equal(t, a, c, "batch size 1 vs 333")
	assert.NotEqual(t, a[0], d[0], "another seed gives other orders")
}

func TestCountEndsTheInput(t *testing.T) {
	for _, n := range []int{1, 99, 100, 101, 2500} {
		out := runInput(t, "sales_orders: { count: "+itoa(n)+", rate: 0, batch_size: 100 }")
		assert.Len(t, out, n)
	}
}

func TestMetadata(t *testing.T) {
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.AddInputYAML(`sales_orders: { count: 3, rate: 0, seed: "5" }`))
	require.NoError(t, sb.AddProcessorYAML(`mapping: 'root = {"key": @id_ordem, "seq": @seq, "id": this.id_ordem}'`))
	var got []string
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		b, _ := m.AsBytes()
		got = append(got, string(b))
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	require.NoError(t, stream.Run(context.Background()))
	require.Len(t, got, 3)
	for i, s := range got {
		var m struct {
			Key string `json:"key"`
			Seq int    `json:"seq"`
			ID  string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		assert.Equal(t, i+1, m.Seq)
		assert.NotEmpty(t, m.ID)
		assert.Equal(t, m.ID, m.Key, "metadata id_ordem is the order's id")
	}
}

func TestCatalogOverride(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	require.NoError(t, os.WriteFile(file, []byte("- {nome: Pão de Queijo, categoria: Padaria, preco: 12.5}\n- {nome: Café, preco: \"7.90\"}\n"), 0o600))
	for name, in := range map[string]string{
		"inline": `
sales_orders:
  count: 300
  rate: 0
  catalog:
    - { nome: "Pão de Queijo", categoria: Padaria, preco: 12.50 }
    - { nome: "Café", preco: 7.9 }`,
		"file": `
sales_orders:
  count: 300
  rate: 0
  catalog_file: ` + file,
	} {
		t.Run(name, func(t *testing.T) {
			out := runInput(t, in)
			require.Len(t, out, 300)
			seen := map[string]order.Cents{}
			for _, b := range out {
				o, err := order.Decode(b)
				require.NoError(t, err)
				for _, it := range o.Items {
					seen[it.Name] = it.UnitPrice
				}
			}
			assert.Equal(t, map[string]order.Cents{"Pão de Queijo": 1250, "Café": 790}, seen)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"negative rate", `rate: -1`, "rate must be 0 (as fast as possible) or a positive number of orders per second, got -1"},
		{"negative count", `count: -5`, "count must be 0 (no end) or more, got -5"},
		{"negative batch", `batch_size: -1`, "batch_size must be 0 (chosen from the rate) or more, got -1"},
		{"bad seed", `seed: abc`, `seed must be an integer or empty (random), got "abc"`},
		{"empty catalog file", `catalog_file: /nonexistent/catalog.yaml`, "reading catalog file"},
		{"two prices", `catalog: [{nome: A, preco: 1}, {nome: A, preco: 2}]`, `one name with two prices`},
		{"zero price", `catalog: [{nome: A, preco: 0}]`, `preco must be greater than 0`},
		{"three decimals", `catalog: [{nome: A, preco: 1.005}]`, `preco "1.005": more than two decimals`},
		{"text price", `catalog: [{nome: A, preco: dez}]`, `preco "dez": not a plain decimal number`},
		{"negative customers", `customers: -1`, "customers must be 0 or more, got -1"},
		{"bad start", `clock: {mode: simulated, start: ontem}`, `clock.start must be an RFC 3339 time`},
		{"bad speed", `clock: {mode: simulated, speed: 0}`, `clock.speed must be greater than 0, got 0`},
		{"bad decay", `basket_decay: 2`, `basket_decay must be in (0, 1], got 2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := Spec().ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			_, err = newInputFromConfig(conf, service.MockResources())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLintRules(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"negative rate", `{rate: -2}`, "rate must be 0"},
		{"both catalogs", `{catalog: [{nome: A, preco: 1}], catalog_file: x.yaml}`, "set catalog or catalog_file, not both"},
		{"negative batch", `{batch_size: -1}`, "batch_size must be 0 (chosen from the rate) or more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := service.NewStreamBuilder()
			err := sb.AddInputYAML("sales_orders: " + tc.yaml)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.NoError(t, service.NewStreamBuilder().AddInputYAML(`sales_orders: { rate: 0, count: 10 }`))
}

// fakeClock is a clock that moves only when the pacer sleeps.
type fakeClock struct{ now time.Time }

func (f *fakeClock) Now() time.Time { return f.now }
func (f *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	f.now = f.now.Add(d)
	return nil
}

// TestRateAccuracy: at rate r, by any instant t the input has let out exactly
// floor(t·r)+1 orders, never more, whatever the batch size.
func TestRateAccuracy(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		batch int
	}{{10, 1}, {10, 100}, {1000, 7}, {250000, 1000}, {0.5, 10}} {
		clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
		p := pacer{rate: tc.rate, now: clk.Now, sleep: clk.Sleep}
		start := clk.now
		for range 200 {
			n, err := p.allowed(context.Background(), tc.batch)
			require.NoError(t, err)
			require.Positive(t, n)
			p.emitted += uint64(n)
			elapsed := clk.now.Sub(start).Seconds()
			want := uint64(elapsed*tc.rate) + 1
			require.LessOrEqual(t, p.emitted, want, "rate %v batch %d at %.3fs", tc.rate, tc.batch, elapsed)
			require.GreaterOrEqual(t, p.emitted+uint64(tc.batch), want)
		}
		// Over the whole run the average rate matches to within one order.
		elapsed := clk.now.Sub(start).Seconds()
		assert.InDelta(t, tc.rate*elapsed, float64(p.emitted), 1.0+float64(tc.batch), "rate %v", tc.rate)
	}
}

// TestRateRealTime checks the real pacing loosely: 20 orders at 100/s take
// about 0.19 s, never much less.
func TestRateRealTime(t *testing.T) {
	start := time.Now()
	out := runInput(t, `sales_orders: { count: 20, rate: 100, batch_size: 5 }`)
	require.Len(t, out, 20)
	assert.GreaterOrEqual(t, time.Since(start), 180*time.Millisecond)
}

func TestSimulatedClock(t *testing.T) {
	out := runInput(t, `
sales_orders:
  count: 1440
  rate: 0
  seed: "3"
  clock: { mode: simulated, start: "2026-11-24T00:00:00-03:00", speed: 1440, nominal_rate: 24 }`)
	require.Len(t, out, 1440)
	// 1440 orders at 24 orders/s nominal and speed 1440 span 60 s × 1440 = one day.
	first, err := order.Decode(out[0])
	require.NoError(t, err)
	last, err := order.Decode(out[len(out)-1])
	require.NoError(t, err)
	assert.Equal(t, "24/11/2026", first.SoldAt.String()[:10])
	assert.Equal(t, "24/11/2026 23:", last.SoldAt.String()[:14])
	prev := first.SoldAt.Time()
	for _, b := range out[1:] {
		o, err := order.Decode(b)
		require.NoError(t, err)
		require.False(t, o.SoldAt.Time().Before(prev), "event time goes forward")
		prev = o.SoldAt.Time()
	}
}

func TestWallClock(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	out := runInput(t, `sales_orders: { count: 10, rate: 0, seed: "1", clock: { mode: wall } }`)
	after := time.Now()
	for _, b := range out {
		o, err := order.Decode(b)
		require.NoError(t, err)
		at := o.SoldAt.Time()
		assert.False(t, at.Before(before) || at.After(after), "%s not in [%s, %s]", at, before, after)
	}
}

// TestAutoBatchSize: batch_size 0 gives big batches as fast as possible and
// about a hundred batches a second when paced.
func TestAutoBatchSize(t *testing.T) {
	for rate, want := range map[float64]int{0: 1000, 10: 1, 150: 1, 5000: 50, 100000: 1000, 1e9: 1000} {
		assert.Equal(t, want, autoBatchSize(rate), "rate %v", rate)
	}
}
