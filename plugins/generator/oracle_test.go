package generator

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// record is one message of sales_orders as a test reads it.
type record struct {
	value []byte
	id    string
	fault string
}

// runRecords runs sales_orders into a capturing output that refuses the
// batches refuse says (the input sends them again), and returns every
// message it accepted, in order.
func runRecords(t *testing.T, inputYAML string, refuse func(n int) bool) []record {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.AddInputYAML(inputYAML))
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	var mu sync.Mutex
	var out []record
	calls := 0
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if refuse != nil && refuse(calls) {
			return errors.New("refused by the test")
		}
		for _, m := range b {
			raw, err := m.AsBytes()
			require.NoError(t, err)
			id, _ := m.MetaGet("id_ordem")
			f, _ := m.MetaGet(FaultHeader)
			out = append(out, record{value: bytes.Clone(raw), id: id, fault: f})
		}
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
	return out
}

func values(recs []record) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.value
	}
	return out
}

// sumOnce is what a correct consumer reports for the records: those the
// consumer's decoder accepts, each id_ordem once, summed independently
// (kafkatest.SumOrders shares no code with the generator).
func sumOnce(t *testing.T, recs []record) kafkatest.Sum {
	t.Helper()
	seen := map[string]bool{}
	var once [][]byte
	rejected := int64(0)
	for _, r := range recs {
		if _, err := order.Decode(r.value); err != nil {
			rejected++
			continue
		}
		if !seen[r.id] {
			seen[r.id] = true
			once = append(once, r.value)
		}
	}
	s, err := kafkatest.SumOrders(once)
	require.NoError(t, err)
	require.Zero(t, s.Rejected, "the independent sum accepts what the decoder accepts")
	s.Rejected = rejected
	return s
}

// assertExpectedIs checks expected results against an independent sum.
func assertExpectedIs(t *testing.T, want kafkatest.Sum, got Expected) {
	t.Helper()
	assert.Equal(t, want.Orders, got.Orders, "pedidos")
	assert.Equal(t, want.Rejected, got.Rejected, "rejeitados")
	require.Len(t, got.Products, len(want.Products), "products")
	var total int64
	for _, p := range got.Products {
		w := want.Products[p.Product]
		assert.Equal(t, w, kafkatest.ProductSum{Units: p.Units, Orders: p.Orders, Cents: int64(p.Value)}, p.Product)
		total += w.Cents
	}
	assert.Equal(t, total, int64(got.Value), "valor_total")
}

func TestInstancesMakeDisjointReproducibleStreams(t *testing.T) {
	run := func(instance int) []record {
		return runRecords(t, `sales_orders: { count: 2000, rate: 0, seed: "42", instance: `+itoa(instance)+` }`, nil)
	}
	zero, one, two := run(0), run(1), run(2)
	assert.Equal(t, values(one), values(run(1)), "an instance is reproducible")
	ids := map[string]int{}
	for k, recs := range [][]record{zero, one, two} {
		for _, r := range recs {
			if prev, dup := ids[r.id]; dup {
				t.Fatalf("id %s made by instance %d and %d", r.id, prev, k)
			}
			ids[r.id] = k
		}
	}
	assert.NotEqual(t, sumOnce(t, zero).Products, sumOnce(t, one).Products, "instances sell differently")
	for _, r := range one {
		_, err := order.Decode(r.value)
		require.NoError(t, err, "instance 1 makes valid orders: %s", r.value)
		assert.True(t, strings.HasPrefix(r.id, "0001"), "instance 1's ids hold 1: %s", r.id)
	}
}

func TestStartSeqResumesTheSameOrders(t *testing.T) {
	full := runRecords(t, `sales_orders: { count: 3000, rate: 0, seed: "9", instance: 3 }`, nil)
	tail := runRecords(t, `sales_orders: { count: 3000, rate: 0, seed: "9", instance: 3, start_seq: 1201 }`, nil)
	require.Len(t, tail, 1800)
	assert.Equal(t, values(full[1200:]), values(tail))

	_, err := Spec().ParseYAML(`start_seq: 5`, nil)
	require.NoError(t, err)
	conf, err := Spec().ParseYAML(`{ count: 10, start_seq: 11 }`, nil)
	require.NoError(t, err)
	_, err = newInputFromConfig(conf, service.MockResources())
	assert.ErrorContains(t, err, "start_seq 11 is past count 10")
}

// TestExpectedResultsMatchWhatWasAcknowledged: the file the input writes
// equals an independent sum of what the output accepted, although the output
// refused some batches (sent again) and faults of every class were mixed in.
func TestExpectedResultsMatchWhatWasAcknowledged(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"plain", ""},
		{"faults", "fault_rate: 0.02"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "esperado.json")
			recs := runRecords(t, `
sales_orders:
  count: 5000
  rate: 0
  seed: "11"
  batch_size: 250
  `+tc.extra+`
  expected: { path: "`+path+`" }`, func(n int) bool { return n == 2 || n == 5 })
			e, err := ReadExpectedFile(path)
			require.NoError(t, err)
			assert.True(t, e.Complete, "completo once every order is acknowledged")
			assert.Equal(t, uint64(1), e.First)
			assert.Equal(t, uint64(5000), e.Last)
			assert.Equal(t, int64(len(recs)), e.Records, "registros")
			assertExpectedIs(t, sumOnce(t, recs), e)

			recomputed, err := ComputeExpected(testYAMLOptions(t, "seed: \"11\"\n"+tc.extra), 1, 5000)
			require.NoError(t, err)
			recomputed.At = e.At
			assert.Equal(t, recomputed, e, "recomputed from seed and range alone")
		})
	}
}

func testYAMLOptions(t *testing.T, yaml string) Options {
	t.Helper()
	conf, err := Spec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	opts, err := optionsFromConfig(conf)
	require.NoError(t, err)
	require.NoError(t, clockFromConfig(conf, &opts, 0))
	return opts
}

// TestFaultsAreLabelledAndJudgedAsLabelled: every class appears, each
// record of a rejecting class is refused by the consumer's decoder and every
// other record is a valid order; duplicates repeat their order exactly.
func TestFaultsAreLabelledAndJudgedAsLabelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "esperado.json")
	recs := runRecords(t, `
sales_orders:
  count: 4000
  rate: 0
  seed: "3"
  fault_rate: 0.02
  faults: { duplicado: 0.05 }
  expected: { path: "`+path+`" }`, nil)
	e, err := ReadExpectedFile(path)
	require.NoError(t, err)
	counts := map[string]int{}
	byID := map[string][]byte{}
	dec := order.NewDecoder()
	var o order.Order
	for _, r := range recs {
		err := dec.Decode(r.value, &o)
		f, perr := ParseFault(r.fault)
		switch {
		case r.fault == "":
			require.NoError(t, err, "an unlabelled record is a valid order: %s", r.value)
		case perr != nil:
			t.Fatalf("unknown label %q", r.fault)
		case f.Rejected():
			require.Error(t, err, "%s must be rejected: %.200s", r.fault, r.value)
		default:
			require.NoError(t, err, "%s is a valid order: %s", r.fault, r.value)
		}
		if r.fault == "duplicado" {
			assert.Equal(t, byID[r.id], r.value, "a duplicate repeats its order")
		}
		byID[r.id] = r.value
		if r.fault != "" {
			counts[r.fault]++
		}
	}
	for _, f := range Faults() {
		assert.Positive(t, counts[f.String()], "class %s injected", f)
	}
	assert.Equal(t, counts, e.Faults, "falhas counts each label")
	assert.Greater(t, counts["duplicado"], 2*counts["total_errado"], "a class's own rate wins over fault_rate")
	assert.Equal(t, int64(counts["duplicado"]), e.Duplicates.Orders)
}

func TestFaultRatesAreChecked(t *testing.T) {
	for yaml, want := range map[string]string{
		`faults: { total_errado: 1.5 }`:               "faults.total_errado must be from 0 to 1, got 1.5",
		`faults: { total_errada: 0.1 }`:               `no fault class "total_errada"`,
		`{ fault_rate: 0.1, faults: { } }`:            "add up to 1.3",
		`{ instance: 65536 }`:                         "instance must be from 0 to 65535",
		`{ fault_rate: 0.5, faults: {duplicado: 0} }`: "add up to 6",
	} {
		conf, err := Spec().ParseYAML(yaml, nil)
		require.NoError(t, err)
		_, err = newInputFromConfig(conf, service.MockResources())
		assert.ErrorContains(t, err, want, yaml)
	}
}

// TestExpectedFileAcrossRestarts: a restart with a start_seq continues the
// file of the same stream, and refuses one that leaves a gap or comes from
// another seed.
func TestExpectedFileAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "esperado.json")
	conf := func(seed string, count, start int) string {
		return `
sales_orders:
  count: ` + itoa(count) + `
  rate: 0
  seed: "` + seed + `"
  start_seq: ` + itoa(start) + `
  expected: { path: "` + path + `" }`
	}
	first := runRecords(t, conf("5", 1000, 1), nil)
	// The second run overlaps the first (a producer killed after acks it
	// never wrote down sends those orders again).
	second := runRecords(t, conf("5", 2500, 801), nil)
	e, err := ReadExpectedFile(path)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), e.First)
	assert.Equal(t, uint64(2500), e.Last)
	assertExpectedIs(t, sumOnce(t, append(first, second...)), e)

	for yaml, want := range map[string]string{
		conf("5", 4000, 2600): "start_seq 2600 leaves a gap after " + path + ", which covers seqs 1 to 2500: orders 2501 to 2599",
		conf("6", 4000, 2501): "was written for seed 5, instance 0 and other options",
	} {
		c, err := Spec().ParseYAML(strings.TrimPrefix(yaml, "\nsales_orders:\n"), nil)
		require.NoError(t, err)
		_, err = newInputFromConfig(c, service.MockResources())
		assert.ErrorContains(t, err, want)
	}
	_, err = os.Stat(path)
	require.NoError(t, err)
}
