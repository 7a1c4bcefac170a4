package aggregate

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

const (
	fieldFormat  = "format"
	fieldClear   = "clear_screen"
	formatTable  = "table"
	formatJSON   = "json"
	layoutReport = "02/01/2006 15:04:05"
)

func reportSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Prints sales_aggregate snapshots for people: a table of every product, or one JSON line per snapshot.").
		Description(`
Messages with metadata `+"`"+MetaSnapshot+`: true`+"`"+` are snapshots of `+"`sales_aggregate`"+`; every other message (a rejected record, say) passes through unchanged.

With `+"`format: table`"+` a snapshot becomes a text table: a header with the time, `+"`pedidos`"+` and `+"`rejeitados`"+`, then every product (no row limit) by value descending, with units, orders, value in reais (R$ 1.234,56), its share of the revenue and how much its value grew since the previous table, and a totals row. Snapshots in `+"`update`"+` mode are merged into the table so it stays complete.

With `+"`format: json`"+` snapshots pass through as they are, one line each.

The table depends on the order of snapshots: run it with `+"`pipeline.threads: 1`"+`.
`).
		Field(service.NewStringEnumField(fieldFormat, formatTable, formatJSON).
			Description("`table` for people, `json` for programs (one snapshot per line).").
			Default(formatTable).
			Example(formatJSON).Example("${OUTPUT_FORMAT:table}")).
		Field(service.NewBoolField(fieldClear).
			Description("With `format: table`, start each table with the terminal codes that clear the screen, so a terminal shows one live table instead of a scrolling log. `vendas-connect demo` turns it on when its output is a terminal.").
			Default(false).
			Advanced()).
		Example("Table or JSON from the environment", "", `
pipeline:
  threads: 1
  processors:
    - sales_report:
        format: "${OUTPUT_FORMAT:table}"
`)
}

func init() {
	err := service.RegisterProcessor("sales_report", reportSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			return newSalesReportFromConfig(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

// salesReport keeps the view of every product so that update snapshots
// still print a complete table, and the values last printed to show change.
type salesReport struct {
	table bool
	clear bool

	mu           sync.Mutex
	view         map[string]ProductTotals
	printed      map[string]order.Cents
	printedTotal order.Cents
}

var _ service.Processor = (*salesReport)(nil)

func newSalesReportFromConfig(conf *service.ParsedConfig, _ *service.Resources) (*salesReport, error) {
	format, err := conf.FieldString(fieldFormat)
	if err != nil {
		return nil, err
	}
	if format != formatTable && format != formatJSON {
		return nil, fmt.Errorf("field %s: %q is not one of %s, %s", fieldFormat, format, formatTable, formatJSON)
	}
	clearScreen, err := conf.FieldBool(fieldClear)
	if err != nil {
		return nil, err
	}
	return &salesReport{
		table:   format == formatTable,
		clear:   clearScreen,
		view:    map[string]ProductTotals{},
		printed: map[string]order.Cents{},
	}, nil
}

// Process renders snapshots and passes every other message through.
func (r *salesReport) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	if v, _ := msg.MetaGet(MetaSnapshot); v != "true" || !r.table {
		return service.MessageBatch{msg}, nil
	}
	data, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	snap, err := ParseSnapshot(data)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	out := r.render(snap)
	r.mu.Unlock()
	if r.clear {
		// Cursor home, then erase the screen.
		out = append([]byte("\x1b[H\x1b[2J"), out...)
	}
	msg.SetBytes(out)
	return service.MessageBatch{msg}, nil
}

// render merges a snapshot into the view and prints the table.
func (r *salesReport) render(s *Snapshot) []byte {
	if s.Mode == ModeComplete {
		clear(r.view)
	}
	for _, p := range s.Products {
		r.view[p.Name] = p
	}
	rows := make([]ProductTotals, 0, len(r.view))
	for _, p := range r.view {
		rows = append(rows, p)
	}
	slices.SortFunc(rows, func(a, b ProductTotals) int {
		if a.Value != b.Value {
			if a.Value > b.Value {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})

	cells := make([][6]string, 0, len(rows)+2)
	cells = append(cells, [6]string{"produto", "unidades", "pedidos", "valor", "receita", "variação"})
	var units int64
	for _, p := range rows {
		units += p.Units
		cells = append(cells, [6]string{
			printableName(p.Name),
			groupThousands(p.Units),
			groupThousands(p.Orders),
			p.Value.BRL(),
			share(p.Value, s.Value),
			change(p.Value - r.printed[p.Name]),
		})
		r.printed[p.Name] = p.Value
	}
	total := [6]string{"TOTAL", groupThousands(units), groupThousands(s.Orders), s.Value.BRL(), share(s.Value, s.Value), change(s.Value - r.printedTotal)}
	r.printedTotal = s.Value

	var width [6]int
	for _, row := range append(cells, total) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var rule [6]string
	for i, w := range width {
		rule[i] = strings.Repeat("-", w)
	}

	var b strings.Builder
	b.WriteString("Vendas por produto · ")
	if !s.EmittedAt.IsZero() {
		b.WriteString(s.EmittedAt.In(order.SaoPaulo).Format(layoutReport))
		b.WriteString(" · ")
	}
	fmt.Fprintf(&b, "pedidos %s · rejeitados %s · snapshot %d\n", groupThousands(s.Orders), groupThousands(s.Rejected), s.Sequence)
	writeRow(&b, &cells[0], &width)
	writeRow(&b, &rule, &width)
	for i := range cells[1:] {
		writeRow(&b, &cells[i+1], &width)
	}
	writeRow(&b, &rule, &width)
	writeRow(&b, &total, &width)
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

// printableName is a product name as the table can print it: characters
// that would reach the terminal as commands or not show at all (controls,
// bidirectional controls, other invisible formatting, bytes that are not
// UTF-8) are written as \u001b or \xff. A snapshot need not come from our
// decoder, which refuses controls in names.
func printableName(name string) string {
	keep := func(r rune) bool {
		// Joiners build emoji and scripts of India: invisible but harmless.
		return !order.IsControlRune(r) && (unicode.IsGraphic(r) || r == '\u200c' || r == '\u200d')
	}
	i := 0
	for i < len(name) {
		r, size := utf8.DecodeRuneInString(name[i:])
		if (r == utf8.RuneError && size == 1) || !keep(r) {
			break
		}
		i += size
	}
	if i == len(name) {
		return name
	}
	b := []byte(name[:i])
	for i < len(name) {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = fmt.Appendf(b, `\x%02x`, name[i])
		case !keep(r) && r <= 0xffff:
			b = fmt.Appendf(b, `\u%04x`, r)
		case !keep(r):
			b = fmt.Appendf(b, `\U%08x`, r)
		default:
			b = append(b, name[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

// writeRow writes the first column left-aligned and the others right-aligned,
// two spaces apart, with no trailing spaces.
func writeRow(b *strings.Builder, row *[6]string, width *[6]int) {
	var line strings.Builder
	for i, c := range row {
		pad := width[i] - utf8.RuneCountInString(c)
		if i == 0 {
			line.WriteString(c)
			line.WriteString(strings.Repeat(" ", pad))
			continue
		}
		line.WriteString("  ")
		line.WriteString(strings.Repeat(" ", pad))
		line.WriteString(c)
	}
	b.WriteString(strings.TrimRight(line.String(), " "))
	b.WriteByte('\n')
}

// groupThousands prints 1234567 as 1.234.567.
func groupThousands(n int64) string {
	var digits [24]byte
	ds := strconv.AppendInt(digits[:0], n, 10)
	neg := len(ds) > 0 && ds[0] == '-'
	if neg {
		ds = ds[1:]
	}
	out := make([]byte, 0, len(ds)+len(ds)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i, d := range ds {
		if i > 0 && (len(ds)-i)%3 == 0 {
			out = append(out, '.')
		}
		out = append(out, d)
	}
	return string(out)
}

// share prints part/total as a percentage with two decimals and a decimal
// comma (62,31%), rounded half up, in integers.
func share(part, total order.Cents) string {
	if total <= 0 || part <= 0 {
		return "0,00%"
	}
	// part*10000 can exceed int64; part <= total keeps the quotient small.
	hi, lo := bits.Mul64(uint64(part), 10000)
	lo, carry := bits.Add64(lo, uint64(total)/2, 0)
	hi += carry
	if hi >= uint64(total) {
		return "100,00%"
	}
	bp, _ := bits.Div64(hi, lo, uint64(total))
	return strconv.FormatUint(bp/100, 10) + "," + string([]byte{byte('0' + bp%100/10), byte('0' + bp%10)}) + "%"
}

// change prints the growth of a value since the previous table: +R$ 3.499,90,
// or nothing when it did not move.
func change(d order.Cents) string {
	if d == 0 {
		return ""
	}
	if d > 0 {
		return "+" + d.BRL()
	}
	return d.BRL()
}

// Close has nothing to release.
func (r *salesReport) Close(context.Context) error { return nil }
