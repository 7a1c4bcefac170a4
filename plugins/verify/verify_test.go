package verify

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }

func TestParseDecimalIsExact(t *testing.T) {
	for _, s := range []string{"1234.5", "1234.50", "1.2345E3", "1.2345e+3", "+1234.500000", "123450e-2", " 1234.5 "} {
		r, err := parseDecimal(s)
		require.NoError(t, err, s)
		assert.Equal(t, "123450", formatRat(centsOf(r)), s)
	}
	r, err := parseDecimal("94467596.80999999")
	require.NoError(t, err)
	assert.Equal(t, "9446759680.999999", formatRat(centsOf(r)), "a float sum's tail is kept, not rounded away")
	for _, bad := range []string{"", "abc", "1,5", "1/3", "NaN", "Inf", "1e99999", "0x10", "1.2.3", strings.Repeat("9", 100)} {
		_, err := parseDecimal(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// expectedOf computes the expected results of seed 42, orders 1 to n.
func expectedOf(t *testing.T, yaml string, n uint64) generator.Expected {
	t.Helper()
	opts, err := generator.OptionsFromYAML(yaml)
	require.NoError(t, err)
	e, err := generator.ComputeExpected(opts, 1, n)
	require.NoError(t, err)
	return e
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

func runVerify(t *testing.T, opts Options) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), opts, &out, &errOut, strings.NewReader(""), func(string) string { return "" })
	return code, out.String() + errOut.String()
}

// TestFloatSummingConsumerDiffers: a consumer that sums money as float64
// and prints the sums as Spark does reports values that differ from the
// exact ones; verify names those products and passes the exact CSV.
func TestFloatSummingConsumerDiffers(t *testing.T) {
	const n = 20000
	e := expectedOf(t, `seed: "42"`, n)
	expPath := writeFile(t, "esperado.json", mustJSON(t, e))
	floatCSV, exactCSV := floatAndExactCSV(t, `seed: "42"`, n)

	code, out := runVerify(t, Options{ExpectedFiles: []string{expPath}, Actual: writeFile(t, "exact.csv", exactCSV), Format: FormatAuto, Duplicates: DupsOnce})
	assert.Equal(t, ExitEqual, code, out)
	assert.Contains(t, out, "RESULT: EQUAL")

	code, out = runVerify(t, Options{ExpectedFiles: []string{expPath}, Actual: writeFile(t, "float.csv", floatCSV), Format: FormatAuto, Duplicates: DupsOnce})
	assert.Equal(t, ExitDifferent, code, out)
	assert.Contains(t, out, "RESULT: DIFFERENT")
	assert.Contains(t, out, "products differ")
	t.Logf("verify on the float sums:\n%s", out)
}

// floatAndExactCSV sums orders 1 to n of the config per product twice: as
// float64, the way a consumer that reads money as double does, and exactly;
// both as CSV with a header.
func floatAndExactCSV(t *testing.T, yaml string, n int) ([]byte, []byte) {
	t.Helper()
	opts, err := generator.OptionsFromYAML(yaml)
	require.NoError(t, err)
	g, err := generator.New(opts)
	require.NoError(t, err)
	floats := map[string]float64{}
	exact := map[string]order.Cents{}
	units := map[string]int64{}
	var names []string
	var o order.Order
	for range n {
		g.Next(&o)
		for _, it := range o.Items {
			if _, ok := exact[it.Name]; !ok {
				names = append(names, it.Name)
			}
			price, err := strconv.ParseFloat(it.UnitPrice.String(), 64)
			require.NoError(t, err)
			floats[it.Name] += float64(it.Quantity) * price
			exact[it.Name] += order.Cents(it.Quantity) * it.UnitPrice
			units[it.Name] += it.Quantity
		}
	}
	var f, x bytes.Buffer
	fw, xw := csv.NewWriter(&f), csv.NewWriter(&x)
	require.NoError(t, fw.Write([]string{"produto", "quantidade", "valor_total"}))
	require.NoError(t, xw.Write([]string{"produto", "quantidade", "valor_total"}))
	for _, name := range names {
		u := strconv.FormatInt(units[name], 10)
		require.NoError(t, fw.Write([]string{name, u, strconv.FormatFloat(floats[name], 'g', -1, 64)}))
		require.NoError(t, xw.Write([]string{name, u, exact[name].String()}))
	}
	fw.Flush()
	xw.Flush()
	return f.Bytes(), x.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestOneCentavoChanged: a snapshot with one product's value one centavo
// off differs, exits 1, and names the product and the centavo.
func TestOneCentavoChanged(t *testing.T) {
	e := expectedOf(t, `seed: "5"`, 3000)
	expPath := writeFile(t, "esperado.json", mustJSON(t, e))
	snap := e
	snap.Products = append([]generator.ProductTotal(nil), e.Products...)
	victim := snap.Products[3]
	snap.Products[3].Value++
	lines := string(mustJSON(t, e)) + "\n" + string(mustJSON(t, snap)) + "\n" + `{"pedidos":1,"produtos":[` // a line cut by a kill
	code, out := runVerify(t, Options{ExpectedFiles: []string{expPath}, Actual: writeFile(t, "snapshots.jsonl", []byte(lines)), Format: FormatAuto, Duplicates: DupsOnce})
	assert.Equal(t, ExitDifferent, code, out)
	assert.Contains(t, out, "1 of "+strconv.Itoa(len(e.Products))+" products differ")
	assert.Regexp(t, strconv.FormatInt(int64(victim.Value), 10)+`\s+`+strconv.FormatInt(int64(victim.Value)+1, 10)+`\s+\+1\s+`+regexp.QuoteMeta(strconv.Quote(victim.Product)), out)
	assert.Contains(t, out, "line 2", "the last complete snapshot counts")
}

// TestBadInputIsAnErrorNotACrash: whatever a file holds, verify says what
// is wrong and where, and exits 2.
func TestBadInputIsAnErrorNotACrash(t *testing.T) {
	e := expectedOf(t, `seed: "5"`, 100)
	expPath := writeFile(t, "esperado.json", mustJSON(t, e))
	for name, tc := range map[string]struct{ data, want string }{
		"empty":           {"", "empty"},
		"no snapshot":     {"hello\nworld\n", "no product name"},
		"csv no value":    {"produto,quantidade\nMouse,3\n", `"Mouse" has no value`},
		"csv bad number":  {"produto,valor_total\nMouse,12.3.4\n", `line 2: product "Mouse", valor_total: "12.3.4" is not a decimal number`},
		"json wrong type": {`{"produto":"Mouse","valor_total":[1]}`, "valor_total is [1], neither text nor a number"},
		"snapshot types":  {`{"pedidos":"x","produtos":{}}`, "line 1: a snapshot whose fields have the wrong types"},
		"huge exponent":   {"produto,valor_total\nMouse,1e999999\n", "is not a decimal number"},
		"only updates":    {`{"pedidos":1,"modo":"update","produtos":[]}`, "no complete snapshot"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out := runVerify(t, Options{ExpectedFiles: []string{expPath}, Actual: writeFile(t, "x.txt", []byte(tc.data)), Format: FormatAuto, Duplicates: DupsOnce})
			assert.Equal(t, ExitCannot, code, out)
			assert.Contains(t, out, tc.want)
		})
	}
	code, out := runVerify(t, Options{ExpectedFiles: []string{filepath.Join(t.TempDir(), "nope.json")}, Actual: "-"})
	assert.Equal(t, ExitCannot, code)
	assert.Contains(t, out, "nope.json")
}

func FuzzReadTotals(f *testing.F) {
	f.Add([]byte("produto,valor_total\nMouse,1.5\n"))
	f.Add([]byte(`{"pedidos":1,"produtos":[{"produto":"a","valor_total":1.5}]}`))
	f.Add([]byte(`[{"produto":"a","valor_total":"1e3"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{FormatAuto, FormatCSV, FormatJSON} {
			_, _ = ReadTotals(bytes.NewReader(data), "fuzz", format)
		}
	})
}

// TestSeveralInstancesAddUp: the expected results of instances computed
// apart add up to the recomputation of them together, and a stream given
// twice is refused.
func TestSeveralInstancesAddUp(t *testing.T) {
	conf := writeFile(t, "produce.yaml", []byte(`
input:
  sales_orders:
    seed: "${ORDERS_SEED:}"
    count: 100
`))
	env := func(k string) string {
		if k == "ORDERS_SEED" {
			return "8"
		}
		return ""
	}
	together, err := recompute(conf, []int{0, 1, 2}, 1, 1000, env)
	require.NoError(t, err)
	w, err := merge(together)
	require.NoError(t, err)
	var sum int64
	for _, e := range together {
		sum += e.Orders
	}
	assert.Equal(t, int64(3000), sum)
	assert.Equal(t, int64(3000), w.Orders)
	_, err = merge(append(together, together[1]))
	assert.ErrorContains(t, err, "both of seed 8, instance 1")

	_, err = recompute(conf, []int{0}, 1, 10, func(string) string { return "" })
	assert.ErrorContains(t, err, "no seed (ORDERS_SEED is empty)")
}
