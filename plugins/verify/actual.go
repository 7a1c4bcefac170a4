package verify

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Totals are what a consumer reported: per product, and the order counts
// when its output has them. A nil number was not in the output.
type Totals struct {
	Source   string
	Orders   *big.Rat
	Rejected *big.Rat
	Products map[string]*Row
	// Notes say how the source was read (skipped lines, repeated rows).
	Notes []string
}

// Row is one product's totals; Value is in reais.
type Row struct {
	Units, Orders, Value *big.Rat
}

func newTotals(source string) *Totals {
	return &Totals{Source: source, Products: map[string]*Row{}}
}

// Column names a consumer may give each figure, lower case. The first of
// each list is ours (CONTRACT.md section 6).
var (
	productKeys = []string{"produto", "product", "nome", "name", "product_name", "nome_produto"}
	valueKeys   = []string{"valor_total", "total", "valor", "value", "total_value", "valor_total_vendas", "sum(valor_total)", "sum(valor)", "sum(value)", "revenue"}
	unitKeys    = []string{"quantidade", "units", "quantity", "qty", "total_quantidade", "sum(quantidade)"}
	orderKeys   = []string{"pedidos", "orders", "order_count", "num_pedidos", "count"}
)

// Formats of a consumer's output.
const (
	FormatAuto     = "auto"
	FormatSnapshot = "snapshot"
	FormatCSV      = "csv"
	FormatJSON     = "json"
)

// ReadTotals reads a consumer's output: our snapshots (JSON lines, the last
// complete one counts), per-product rows as CSV with a header, or per-product
// rows as JSON (an array or one object per line). A product listed again
// replaces its earlier row, as an update-mode sink writes them.
func ReadTotals(r io.Reader, source, format string) (*Totals, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d MiB", source, maxInput>>20)
	}
	if format == FormatAuto {
		format = sniff(source, data)
	}
	switch format {
	case FormatCSV:
		return readCSV(data, source)
	case FormatSnapshot, FormatJSON:
		return readJSON(data, source)
	}
	return nil, fmt.Errorf("unknown format %q: use auto, snapshot, csv or json", format)
}

// maxInput bounds what verify reads from a file or stdin.
const maxInput = 1 << 30

func sniff(source string, data []byte) string {
	if strings.HasSuffix(strings.ToLower(source), ".csv") {
		return FormatCSV
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return FormatJSON
	}
	return FormatCSV
}

// readJSON reads snapshots or per-product rows, as JSON lines or an array.
func readJSON(data []byte, source string) (*Totals, error) {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) > 0 && t[0] == '[' {
		var rows []map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&rows); err != nil {
			return nil, fmt.Errorf("%s: not a JSON array of product rows: %w", source, err)
		}
		tot := newTotals(source)
		for i, row := range rows {
			if err := tot.addRow(row, fmt.Sprintf("%s element %d", source, i)); err != nil {
				return nil, err
			}
		}
		return tot, tot.nonEmpty()
	}
	snap := newTotals(source)
	rows := newTotals(source)
	var lastSnap string
	skipped := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 256<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			skipped++ // a table line, a log line, a line cut by a kill
			continue
		}
		where := fmt.Sprintf("%s line %d", source, n)
		if _, ok := obj["produtos"]; ok {
			s, complete, err := readSnapshot(obj, where)
			if err != nil {
				return nil, err
			}
			if complete {
				snap, lastSnap = s, where
			}
			continue
		}
		if err := rows.addRow(obj, where); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	out := rows
	if lastSnap != "" {
		out = snap
		out.Source = source
		out.Notes = append(out.Notes, "the last complete snapshot: "+strings.TrimPrefix(lastSnap, source+" "))
	}
	if skipped > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d lines that are not JSON objects skipped", skipped))
	}
	return out, out.nonEmpty()
}

func (t *Totals) nonEmpty() error {
	if len(t.Products) == 0 && t.Orders == nil {
		return fmt.Errorf("%s holds no complete snapshot and no product rows", t.Source)
	}
	return nil
}

// readSnapshot reads one snapshot line (CONTRACT.md section 6); complete
// says whether it lists every product.
func readSnapshot(obj map[string]json.RawMessage, where string) (*Totals, bool, error) {
	var s struct {
		Orders   json.Number                  `json:"pedidos"`
		Rejected json.Number                  `json:"rejeitados"`
		Mode     string                       `json:"modo"`
		Products []map[string]json.RawMessage `json:"produtos"`
	}
	raw, _ := json.Marshal(obj)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, false, fmt.Errorf("%s: a snapshot whose fields have the wrong types: %w", where, err)
	}
	if s.Mode != "" && s.Mode != "complete" {
		return nil, false, nil
	}
	t := newTotals(where)
	var err error
	if s.Orders != "" {
		if t.Orders, err = parseDecimal(s.Orders.String()); err != nil {
			return nil, false, fmt.Errorf("%s: pedidos: %w", where, err)
		}
	}
	if s.Rejected != "" {
		if t.Rejected, err = parseDecimal(s.Rejected.String()); err != nil {
			return nil, false, fmt.Errorf("%s: rejeitados: %w", where, err)
		}
	}
	for i, p := range s.Products {
		if err := t.addRow(p, fmt.Sprintf("%s produtos[%d]", where, i)); err != nil {
			return nil, false, err
		}
	}
	return t, true, nil
}

// addRow adds one product row given as JSON fields.
func (t *Totals) addRow(obj map[string]json.RawMessage, where string) error {
	lower := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		lower[strings.ToLower(strings.TrimSpace(k))] = v
	}
	text := func(keys []string) (string, string, bool, error) {
		for _, k := range keys {
			v, ok := lower[k]
			if !ok {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				return k, s, true, nil
			}
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&n); err != nil {
				return k, "", true, fmt.Errorf("%s: %s is %s, neither text nor a number", where, k, shorten(string(v)))
			}
			return k, n.String(), true, nil
		}
		return "", "", false, nil
	}
	cells := map[string]string{}
	for _, group := range [][]string{productKeys, valueKeys, unitKeys, orderKeys} {
		k, v, ok, err := text(group)
		if err != nil {
			return err
		}
		if ok {
			cells[group[0]] = v
			cells[group[0]+"_as"] = k
		}
	}
	return t.addCells(cells, where)
}

// addCells adds a row from its texts, keyed by our column names.
func (t *Totals) addCells(cells map[string]string, where string) error {
	name, ok := cells["produto"]
	if !ok {
		return fmt.Errorf("%s: no product name (a column or field named %s)", where, strings.Join(productKeys, ", "))
	}
	if _, ok := cells["valor_total"]; !ok {
		return fmt.Errorf("%s: product %q has no value (a column or field named %s)", where, shorten(name), strings.Join(valueKeys, ", "))
	}
	row := &Row{}
	for col, dst := range map[string]**big.Rat{"valor_total": &row.Value, "quantidade": &row.Units, "pedidos": &row.Orders} {
		s, ok := cells[col]
		if !ok {
			continue
		}
		r, err := parseDecimal(s)
		if err != nil {
			return fmt.Errorf("%s: product %q, %s: %w", where, shorten(name), cells[col+"_as"], err)
		}
		*dst = r
	}
	if _, dup := t.Products[name]; dup {
		t.Notes = appendOnce(t.Notes, "a product listed again replaces its earlier row")
	}
	t.Products[name] = row
	return nil
}

// readCSV reads per-product rows under a header row.
func readCSV(data []byte, source string) (*Totals, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is empty", source)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	cols := map[string]int{}
	names := map[string]string{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		for _, group := range [][]string{productKeys, valueKeys, unitKeys, orderKeys} {
			for _, k := range group {
				if _, taken := cols[group[0]]; h == k && !taken {
					cols[group[0]], names[group[0]] = i, header[i]
				}
			}
		}
	}
	t := newTotals(source)
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		cells := map[string]string{}
		for col, i := range cols {
			if i < len(rec) {
				cells[col], cells[col+"_as"] = rec[i], names[col]
			}
		}
		if err := t.addCells(cells, fmt.Sprintf("%s line %d", source, line)); err != nil {
			return nil, fmt.Errorf("%w (header: %s)", err, shorten(strings.Join(header, ",")))
		}
	}
	return t, t.nonEmpty()
}

func appendOnce(notes []string, s string) []string {
	for _, n := range notes {
		if n == s {
			return notes
		}
	}
	return append(notes, s)
}

// shorten keeps a piece of input short in a message, cut at a character.
func shorten(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= 64 {
		return s
	}
	n := 64
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
