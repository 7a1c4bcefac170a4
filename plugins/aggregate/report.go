package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

const (
	fieldFormat  = "format"
	fieldClear   = "clear_screen"
	fieldFit     = "fit_to_terminal"
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

When the process's stdout is a terminal (and `+"`"+fieldFit+"`"+` is on), each table fits its window, whose size is read again for every table: the title and the column headers always, then the best-selling products by value as many as the height allows, the rest folded into one `+"`outros (N produtos)`"+` row (their sums), then the totals row. Long names are shortened with `+"`…`"+`; when the width is still short, the columns `+"`variação`"+`, `+"`receita`"+`, `+"`pedidos`"+` and `+"`unidades`"+` are left out, in that order. No line wraps.

With `+"`format: json`"+` snapshots pass through as they are, one line each.

The table depends on the order of snapshots: run it with `+"`pipeline.threads: 1`"+`.
`).
		Field(service.NewStringEnumField(fieldFormat, formatTable, formatJSON).
			Description("`table` for people, `json` for programs (one snapshot per line).").
			Default(formatTable).
			Example(formatJSON).Example("${OUTPUT_FORMAT:table}")).
		Field(service.NewBoolField(fieldClear).
			Description("With `format: table`, draw each table over the previous one (cursor home, each line cleared to its end, then the rest of the screen), so a terminal shows one live table without flicker instead of a scrolling log. `vendas-connect demo` turns it on when its output is a terminal.").
			Default(false).
			Advanced()).
		Field(service.NewBoolField(fieldFit).
			Description("With `format: table`, fit each table to the terminal window when the process's stdout is a terminal (see above). Turn it off when the table goes to another output than stdout while stdout is a terminal: the processor cannot see where its messages go.").
			Default(true).
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
	// size is the terminal's width and height when the table is to fit it
	// (ok false: print every product). Asked at every table, so that a
	// resized window is followed.
	size func() (cols, rows int, ok bool)
	// observe, when set, is told the counts of every snapshot passed on.
	observe func(orders, rejected int64)

	mu           sync.Mutex
	view         map[string]ProductTotals
	printed      map[string]order.Cents
	printedTotal order.Cents
}

var _ service.Processor = (*salesReport)(nil)

// terminalSize is how a new sales_report asks for the terminal of the
// process's stdout; tests replace it.
var terminalSize = stdoutTerminalSize

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
	fit, err := conf.FieldBool(fieldFit)
	if err != nil {
		return nil, err
	}
	size := terminalSize
	if !fit {
		size = noTerminal
	}
	return &salesReport{
		table:   format == formatTable,
		clear:   clearScreen,
		size:    size,
		view:    map[string]ProductTotals{},
		printed: map[string]order.Cents{},
	}, nil
}

func noTerminal() (int, int, bool) { return 0, 0, false }

// RegisterReportObserver registers sales_report in env, in place of the one
// registered at init, with observe told the pedidos and rejeitados of every
// snapshot the processor passes on (after rendering it, before the output
// writes it). vendas-connect demo registers it in a clone of the global
// environment, so that only its own consumer reports to it, to know when
// every order is counted. observe must be safe for concurrent calls.
func RegisterReportObserver(env *service.Environment, observe func(orders, rejected int64)) error {
	return env.RegisterProcessor("sales_report", reportSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			r, err := newSalesReportFromConfig(conf, mgr)
			if err != nil {
				return nil, err
			}
			r.observe = observe
			return r, nil
		})
}

// Process renders snapshots and passes every other message through.
func (r *salesReport) Process(_ context.Context, msg *service.Message) (service.MessageBatch, error) {
	if _, ok := msg.MetaGet(MetaWindow); ok && r.table {
		data, err := msg.AsBytes()
		if err != nil {
			return nil, err
		}
		w, err := ParseWindow(data)
		if err != nil {
			return nil, err
		}
		cols, _, fit := r.size()
		if !fit {
			cols = 0
		}
		msg.SetBytes([]byte(strings.Join(renderWindow(w, max(cols-1, 0)), "\n") + "\n"))
		return service.MessageBatch{msg}, nil
	}
	if v, _ := msg.MetaGet(MetaSnapshot); v != "true" || (!r.table && r.observe == nil) {
		return service.MessageBatch{msg}, nil
	}
	data, err := msg.AsBytes()
	if err != nil {
		return nil, err
	}
	if !r.table {
		// Only the counts, for the observer: the JSON line passes as it is.
		var counts struct {
			Pedidos    int64 `json:"pedidos"`
			Rejeitados int64 `json:"rejeitados"`
		}
		if err := json.Unmarshal(data, &counts); err != nil {
			return nil, fmt.Errorf("parsing snapshot: %w", err)
		}
		r.observe(counts.Pedidos, counts.Rejeitados)
		return service.MessageBatch{msg}, nil
	}
	snap, err := ParseSnapshot(data)
	if err != nil {
		return nil, err
	}
	cols, rows, fit := r.size()
	if !fit {
		cols, rows = 0, 0
	}
	r.mu.Lock()
	lines := r.render(snap, cols, rows)
	r.mu.Unlock()
	msg.SetBytes(frame(lines, r.clear))
	if r.observe != nil {
		r.observe(snap.Orders, snap.Rejected)
	}
	return service.MessageBatch{msg}, nil
}

// frame joins the lines of a table. To redraw in place it starts at the
// cursor's home, clears the rest of each line it writes and, last, the rest
// of the screen: every cell is written once, with no blank screen between
// two tables (clearing the screen first flickers).
func frame(lines []string, redraw bool) []byte {
	if !redraw {
		return []byte(strings.Join(lines, "\n"))
	}
	var b strings.Builder
	b.WriteString("\x1b[H")
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
		if i < len(lines)-1 {
			b.WriteString("\x1b[K")
		}
	}
	b.WriteString("\x1b[J")
	return []byte(b.String())
}

// The table's columns, in the order printed.
const (
	colName = iota
	colUnits
	colOrders
	colValue
	colShare
	colChange
	numCols
)

var headers = [numCols]string{"produto", "unidades", "pedidos", "valor", "receita", "variação"}

// dropOrder is the order in which a narrow window leaves columns out: the
// growth first, then the share, the orders and the units. The name and the
// value always stay.
var dropOrder = [...]int{colChange, colShare, colOrders, colUnits}

// minNameWidth is the narrowest the name column gets before a column is
// dropped to make room: long enough to tell products apart
// ("Smartphone Samsung Galaxy A…").
const minNameWidth = 28

// tableRow is a product, or the products folded into one row, as printed.
type tableRow struct {
	name          string // printable
	units, orders int64
	value, delta  order.Cents
}

func (t *tableRow) cells(total order.Cents) [numCols]string {
	return [numCols]string{t.name, groupThousands(t.units), groupThousands(t.orders), t.value.BRL(), share(t.value, total), change(t.delta)}
}

// render merges a snapshot into the view and lays out the table: every
// product when cols is 0, else a table that fits cols × rows (below).
func (r *salesReport) render(s *Snapshot, cols, rows int) []string {
	if s.Mode == ModeComplete {
		clear(r.view)
	}
	for _, p := range s.Products {
		r.view[p.Name] = p
	}
	all := make([]tableRow, 0, len(r.view))
	var units int64
	for _, p := range r.view {
		addChecked(&units, p.Units)
		all = append(all, tableRow{name: p.Name, units: p.Units, orders: p.Orders, value: p.Value, delta: p.Value - r.printed[p.Name]})
		r.printed[p.Name] = p.Value
	}
	slices.SortFunc(all, func(a, b tableRow) int {
		if a.value != b.value {
			if a.value > b.value {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	total := tableRow{name: "TOTAL", units: units, orders: s.Orders, value: s.Value, delta: s.Value - r.printedTotal}
	r.printedTotal = s.Value
	if cols <= 0 {
		body := make([][numCols]string, len(all))
		for i := range all {
			all[i].name = printableName(all[i].name)
			body[i] = all[i].cells(s.Value)
		}
		return layout(titleLine(s, 0), body, total.cells(s.Value), 0, true, true)
	}
	return fitTable(s, all, &total, cols, rows)
}

// fitTable lays out a table for a terminal window of cols × rows. The
// output writes a newline after the table, so it takes rows-1 lines and
// the screen does not scroll; lines stop short of the last column, where a
// terminal would wrap or let the clear-to-end-of-line erase the last cell.
// The best-selling products by value fill the height; the rest become one
// `outros (N produtos)` row whose figures are their sums. Long names are
// shortened with …, and when that is not enough the columns of dropOrder go.
func fitTable(s *Snapshot, all []tableRow, total *tableRow, cols, rows int) []string {
	width, height := cols-1, rows-1
	width, height = max(width, 1), max(height, 1)
	rules := height >= 6 // title, header, rule, a row, rule, total
	fixed := 3
	if rules {
		fixed = 5
	}
	shown := all
	var outros *tableRow
	if room := height - fixed; len(all) > room {
		// One line goes to the outros row; folding a single product would
		// not save one.
		k := max(room-1, 0)
		shown = all[:k]
		o := tableRow{name: "outros (" + groupThousands(int64(len(all)-k)) + " produtos)"}
		for i := range all[k:] {
			p := &all[k+i]
			addChecked(&o.units, p.units)
			addChecked(&o.orders, p.orders)
			addChecked(&o.value, p.value)
			addChecked(&o.delta, p.delta)
		}
		outros = &o
	}
	body := make([][numCols]string, 0, len(shown)+1)
	for i := range shown {
		shown[i].name = printableName(shown[i].name)
		body = append(body, shown[i].cells(s.Value))
	}
	if outros != nil {
		body = append(body, outros.cells(s.Value))
	}
	lines := layout(titleLine(s, width), body, total.cells(s.Value), width, rules, true)
	if len(lines) > height {
		// A window too small for the title, the headers and the totals.
		lines = lines[:height]
	}
	return lines
}

// layout prints the title, the header, the body and the totals row. With a
// width, columns are dropped in dropOrder and the name column narrowed
// until a row fits, and no line is longer than width. change shows the
// variação column.
func layout(title string, body [][numCols]string, total [numCols]string, width int, rules, change bool) []string {
	var w [numCols]int
	measure := func(row *[numCols]string) {
		for i, c := range row {
			w[i] = max(w[i], displayWidth(c))
		}
	}
	measure(&headers)
	for i := range body {
		measure(&body[i])
	}
	measure(&total)

	visible := [numCols]bool{true, true, true, true, true, change}
	if width > 0 {
		nameWidth := w[colName]
		for dropped := 0; ; dropped++ {
			rest := 0
			for c := colUnits; c < numCols; c++ {
				if visible[c] {
					rest += 2 + w[c]
				}
			}
			nameWidth = min(w[colName], width-rest)
			if nameWidth >= min(w[colName], minNameWidth) || dropped == len(dropOrder) {
				break
			}
			visible[dropOrder[dropped]] = false
		}
		w[colName] = max(nameWidth, 1)
	}

	lines := make([]string, 0, len(body)+5)
	lines = append(lines, title)
	row := func(cells *[numCols]string) {
		line := formatRow(cells, &w, &visible)
		if width > 0 && displayWidth(line) > width {
			line = shorten(line, width)
		}
		lines = append(lines, line)
	}
	var rule [numCols]string
	for i := range rule {
		rule[i] = strings.Repeat("-", w[i])
	}
	row(&headers)
	if rules {
		row(&rule)
	}
	for i := range body {
		row(&body[i])
	}
	if rules {
		row(&rule)
	}
	row(&total)
	return lines
}

// titleLine is the first line: the time, pedidos and rejeitados always;
// within a width, the snapshot number, the name of the table and the date
// go first.
func titleLine(s *Snapshot, width int) string {
	var stamp, clock string
	if !s.EmittedAt.IsZero() {
		t := s.EmittedAt.In(order.SaoPaulo)
		stamp = t.Format(layoutReport) + " · "
		clock = t.Format(time.TimeOnly) + " · "
	}
	counts := "pedidos " + groupThousands(s.Orders) + " · rejeitados " + groupThousands(s.Rejected)
	if len(s.OverflowFields)+len(s.OverflowProducts) > 0 {
		// Sums over partitions shown at the largest int64 (estouro).
		counts = "ESTOURO · " + counts
	}
	full := "Vendas por produto · " + stamp + counts + " · snapshot " + strconv.FormatInt(s.Sequence, 10)
	if width <= 0 {
		return full
	}
	for _, t := range [...]string{full, "Vendas por produto · " + stamp + counts, stamp + counts, clock + counts} {
		if displayWidth(t) <= width {
			return t
		}
	}
	return shorten(clock+counts, width)
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

// formatRow writes the first column left-aligned and the others
// right-aligned, two spaces apart, with no trailing spaces. A name wider
// than its column is shortened with ….
func formatRow(row *[numCols]string, width *[numCols]int, visible *[numCols]bool) string {
	var line strings.Builder
	for i, c := range row {
		if !visible[i] {
			continue
		}
		cw := displayWidth(c)
		if cw > width[i] {
			c = shorten(c, width[i])
			cw = displayWidth(c)
		}
		pad := strings.Repeat(" ", width[i]-cw)
		if i == colName {
			line.WriteString(c)
			line.WriteString(pad)
			continue
		}
		line.WriteString("  ")
		line.WriteString(pad)
		line.WriteString(c)
	}
	return strings.TrimRight(line.String(), " ")
}

// shorten cuts s to at most width terminal columns, the last of them …;
// combining marks stay with the character they follow.
func shorten(s string, width int) string {
	if displayWidth(s) <= width {
		return s
	}
	if width <= 0 {
		return ""
	}
	used, end := 0, 0
	for i, r := range s {
		rw := runeWidth(r)
		if used+rw > width-1 {
			break
		}
		used += rw
		end = i + utf8.RuneLen(r)
	}
	// A joiner left at the end would join the … to the character before.
	return strings.TrimRight(s[:end], "\u200c\u200d") + "…"
}

// displayWidth is how many terminal columns s takes: the sum of runeWidth.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth is the columns a terminal gives r, from above when terminals
// disagree (a line that comes out short is harmless, a long one wraps):
// 0 for combining marks and joiners, 2 for East Asian wide and fullwidth
// characters and emoji, 1 for everything else. East Asian "ambiguous"
// characters (·, ½) count 1, as terminals outside CJK locales show them.
// Names reach here escaped by printableName, so no control is left.
func runeWidth(r rune) int {
	switch {
	case r < 0x300:
		return 1
	case r == 0x200c || r == 0x200d:
		return 0
	case r == 0xfe0f:
		// Emoji presentation: the character before may be drawn wide.
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	}
	for _, w := range wideRanges {
		if r < w[0] {
			return 1
		}
		if r <= w[1] {
			return 2
		}
	}
	return 1
}

// wideRanges are the East Asian wide and fullwidth blocks and the emoji,
// in order; generous where the Unicode tables are fragmented.
var wideRanges = [...][2]rune{
	{0x1100, 0x115f},   // Hangul Jamo initials
	{0x231a, 0x231b},   // ⌚⌛
	{0x2329, 0x232a},   // angle brackets
	{0x23e9, 0x23f3},   // ⏩…⏳
	{0x25fd, 0x25fe},   // ◽◾
	{0x2600, 0x27bf},   // miscellaneous symbols, dingbats (☕, ✅)
	{0x2b1b, 0x2b1c},   // ⬛⬜
	{0x2b50, 0x2b55},   // ⭐⭕
	{0x2e80, 0x303e},   // CJK radicals, punctuation
	{0x3041, 0x33ff},   // kana, CJK symbols
	{0x3400, 0x4dbf},   // CJK extension A
	{0x4e00, 0x9fff},   // CJK unified ideographs
	{0xa000, 0xa4cf},   // Yi
	{0xa960, 0xa97f},   // Hangul Jamo extended A
	{0xac00, 0xd7a3},   // Hangul syllables
	{0xf900, 0xfaff},   // CJK compatibility ideographs
	{0xfe10, 0xfe19},   // vertical forms
	{0xfe30, 0xfe6f},   // CJK compatibility forms
	{0xff00, 0xff60},   // fullwidth forms
	{0xffe0, 0xffe6},   // fullwidth signs
	{0x16fe0, 0x18cff}, // Tangut, Khitan
	{0x1b000, 0x1b2ff}, // kana supplement
	{0x1f000, 0x1faff}, // mahjong, cards, enclosed, emoji and pictographs
	{0x20000, 0x3fffd}, // CJK extensions B and later
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
