package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/vendas-connect/vendas-connect/plugins/generator"
)

// Want is the expected results of one or more producers, added up.
type Want struct {
	Streams  []generator.Expected
	Orders   int64
	Rejected int64
	Records  int64
	Products map[string]generator.ProductTotal
	Faults   map[string]int
	// Dups are the totals of the duplicate copies alone.
	DupOrders   int64
	DupProducts map[string]generator.ProductTotal
}

// merge adds up the expected results of distinct streams.
func merge(list []generator.Expected) (*Want, error) {
	w := &Want{Products: map[string]generator.ProductTotal{}, Faults: map[string]int{}, DupProducts: map[string]generator.ProductTotal{}}
	seen := map[[2]int64]int{}
	for i, e := range list {
		k := [2]int64{e.Seed, int64(e.Instance)}
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("expected results %d and %d are both of seed %d, instance %d: each stream must be given once", j+1, i+1, e.Seed, e.Instance)
		}
		seen[k] = i
		w.Streams = append(w.Streams, e)
		w.Orders += e.Orders
		w.Rejected += e.Rejected
		w.Records += e.Records
		w.DupOrders += e.Duplicates.Orders
		addRows(w.Products, e.Products)
		addRows(w.DupProducts, e.Duplicates.Products)
		for f, n := range e.Faults {
			w.Faults[f] += n
		}
	}
	return w, nil
}

func addRows(m map[string]generator.ProductTotal, rows []generator.ProductTotal) {
	for _, r := range rows {
		p := m[r.Product]
		p.Product = r.Product
		p.Units += r.Units
		p.Orders += r.Orders
		p.Value += r.Value
		m[r.Product] = p
	}
}

// withDuplicates is w as a consumer that counts every record reports it.
func (w *Want) withDuplicates() *Want {
	c := *w
	c.Orders += w.DupOrders
	c.Products = map[string]generator.ProductTotal{}
	for k, v := range w.Products {
		c.Products[k] = v
	}
	rows := make([]generator.ProductTotal, 0, len(w.DupProducts))
	for _, v := range w.DupProducts {
		rows = append(rows, v)
	}
	addRows(c.Products, rows)
	return &c
}

// Expected returns the merged results in the expected results' own format.
func (w *Want) Expected() generator.Expected {
	e := generator.Expected{Version: generator.ExpectedVersion, Mode: "complete", Complete: true,
		Orders: w.Orders, Rejected: w.Rejected, Records: w.Records, Faults: w.Faults}
	if len(w.Streams) == 1 {
		e = w.Streams[0]
	}
	if len(w.Streams) > 1 {
		for _, s := range w.Streams {
			e.Complete = e.Complete && s.Complete
		}
		e.Products = sortedRows(w.Products)
		e.Duplicates = generator.Duplicates{Orders: w.DupOrders, Products: sortedRows(w.DupProducts)}
		for _, p := range e.Products {
			e.Value += p.Value
		}
		for _, p := range e.Duplicates.Products {
			e.Duplicates.Value += p.Value
		}
	}
	return e
}

func sortedRows(m map[string]generator.ProductTotal) []generator.ProductTotal {
	rows := make([]generator.ProductTotal, 0, len(m))
	for _, p := range m {
		rows = append(rows, p)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Value != rows[j].Value {
			return rows[i].Value > rows[j].Value
		}
		return rows[i].Product < rows[j].Product
	})
	return rows
}

// readExpectedFiles reads the expected results files of the producers.
func readExpectedFiles(paths []string) ([]generator.Expected, error) {
	var out []generator.Expected
	for _, p := range paths {
		e, err := generator.ReadExpectedFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// envRef is ${NAME} or ${NAME:default} in a Benthos config.
var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}`)

// expandEnv replaces the environment references of a config the way Benthos
// does: the variable's value, or the default when it is unset or empty.
func expandEnv(s string, lookup func(string) string) string {
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v := lookup(m[1]); v != "" {
			return v
		}
		return m[2]
	})
}

// recompute replays the seed of a produce config (its sales_orders input,
// with the environment's variables) for the given instances and seqs.
func recompute(path string, instances []int, first, last uint64, lookup func(string) string) ([]generator.Expected, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the producer's config: %w", err)
	}
	var doc struct {
		Input struct {
			SalesOrders yaml.Node `yaml:"sales_orders"`
		} `yaml:"input"`
	}
	if err := yaml.Unmarshal([]byte(expandEnv(string(raw), lookup)), &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Input.SalesOrders.Kind == 0 {
		return nil, fmt.Errorf("%s has no input.sales_orders: name the config the producer ran", path)
	}
	body, err := yaml.Marshal(&doc.Input.SalesOrders)
	if err != nil {
		return nil, err
	}
	opts, err := generator.OptionsFromYAML(string(body))
	if err != nil {
		return nil, fmt.Errorf("%s: input.sales_orders: %w", path, err)
	}
	if first < 1 || last < first {
		return nil, fmt.Errorf("the seqs to recompute must satisfy 1 <= --first <= --last, got %d and %d", first, last)
	}
	var out []generator.Expected
	for _, k := range instances {
		opts.Instance = k
		e, err := generator.ComputeExpected(opts, first, last)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", k, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func writeJSONLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
