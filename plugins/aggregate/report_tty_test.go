package aggregate

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Tables in tests are the same whatever the test binary's stdout is; the
// tests of fitting give each report its window.
func init() { terminalSize = noTerminal }

// fitProducts are n products with distinct values, among them long names,
// wide (CJK, emoji) and combining characters.
func fitProducts(n int) []ProductTotals {
	names := []string{
		"Smartphone Samsung Galaxy A15 128GB Azul Escuro com Capa e Película",
		"日本茶 抹茶 プレミアム 100g",
		"Caneca ☕ Café ☕ Edição Especial de Natal",
		"Cafe\u0301 Pila\u0303o Torrado e Moi\u0301do 500g",
		"Notebook Dell Inspiron 15",
		"Fone 🎧 Bluetooth 👩\u200d💻",
	}
	ps := make([]ProductTotals, n)
	for i := range ps {
		name := names[i%len(names)]
		if i >= len(names) {
			name = fmt.Sprintf("%s %d", name, i)
		}
		units := int64(n-i) * 37
		ps[i] = ProductTotals{Name: name, Units: units, Orders: units - int64(i%5), Value: order.Cents(units*349990 + int64(i))}
	}
	return ps
}

func fitSnapshot(ps []ProductTotals) *Snapshot {
	s := &Snapshot{Orders: 123456, Rejected: 7, Mode: ModeComplete, Products: ps, Sequence: 42,
		EmittedAt: time.Date(2026, 11, 24, 21, 4, 1, 0, time.UTC)}
	for _, p := range ps {
		s.Value += p.Value
	}
	return s
}

var cellSep = regexp.MustCompile(`\s{2,}`)

// parsedRow is a body or totals row read back from the table by the
// columns its header names.
type parsedRow struct {
	name                   string
	units, orders, value   int64
	hasUnits, hasOrders    bool
	hasValue, hasPrintable bool
}

func parseTableRow(t *testing.T, header []string, line string) parsedRow {
	t.Helper()
	cells := cellSep.Split(line, -1)
	require.GreaterOrEqual(t, len(cells), 2, "%q", line)
	// Trailing empty cells (no change) are trimmed from the line.
	r := parsedRow{name: cells[0]}
	for i, h := range header[1:] {
		if i+1 >= len(cells) {
			break
		}
		c := cells[i+1]
		switch h {
		case "unidades":
			r.units, r.hasUnits = parseGrouped(t, c), true
		case "pedidos":
			r.orders, r.hasOrders = parseGrouped(t, c), true
		case "valor":
			r.value, r.hasValue = parseBRL(t, c), true
		}
	}
	return r
}

func parseGrouped(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ".", ""), 10, 64)
	require.NoError(t, err, "a grouped integer: %q", s)
	return n
}

func parseBRL(t *testing.T, s string) int64 {
	t.Helper()
	require.True(t, strings.HasPrefix(s, "R$ "), "money: %q", s)
	digits := strings.NewReplacer("R$ ", "", ".", "", ",", "").Replace(s)
	n, err := strconv.ParseInt(digits, 10, 64)
	require.NoError(t, err, "money: %q", s)
	return n
}

// checkFitted asserts what a fitted table promises for a cols × rows window
// and returns the body rows and the totals row read back.
func checkFitted(t *testing.T, lines []string, s *Snapshot, cols, rows int) (header []string, body []parsedRow, total parsedRow) {
	t.Helper()
	table := strings.Join(lines, "\n")
	assert.LessOrEqual(t, len(lines), rows-1, "the table and the newline after it fit the height:\n%s", table)
	for _, l := range lines {
		assert.Less(t, displayWidth(l), cols, "line wider than %d-1 columns: %q", cols, l)
	}
	require.GreaterOrEqual(t, len(lines), 4, table)
	assert.Contains(t, lines[0], "18:04:01", "the title has the time")
	assert.Contains(t, lines[0], "pedidos "+groupThousands(s.Orders), "the title has pedidos")
	assert.Contains(t, lines[0], "rejeitados "+groupThousands(s.Rejected), "the title has rejeitados")
	header = cellSep.Split(lines[1], -1)
	require.Equal(t, "produto", header[0], table)
	assert.Contains(t, header, "valor", "the value column always stays")
	require.True(t, strings.HasPrefix(lines[2], "---"), table)
	require.True(t, strings.HasPrefix(lines[len(lines)-2], "---"), table)
	for _, l := range lines[3 : len(lines)-2] {
		body = append(body, parseTableRow(t, header, l))
	}
	total = parseTableRow(t, header, lines[len(lines)-1])
	require.Equal(t, "TOTAL", total.name)
	return header, body, total
}

// TestReportFitsWindow: in a terminal the table fits the window, the best
// sellers first and the rest in an outros row whose figures are the sums of
// the products it folds, so that the rows shown add up to the totals.
func TestReportFitsWindow(t *testing.T) {
	cases := []struct {
		cols, rows int
		products   int
		header     []string
	}{
		{80, 24, 64, []string{"produto", "unidades", "pedidos", "valor", "receita"}},
		{160, 50, 64, []string{"produto", "unidades", "pedidos", "valor", "receita", "variação"}},
		{160, 50, 40, []string{"produto", "unidades", "pedidos", "valor", "receita", "variação"}},
		{60, 12, 64, []string{"produto", "unidades", "valor"}},
		{48, 10, 64, []string{"produto", "valor"}},
		{100, 30, 10000, []string{"produto", "unidades", "pedidos", "valor", "receita"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%d, %d products", c.cols, c.rows, c.products), func(t *testing.T) {
			ps := fitProducts(c.products)
			s := fitSnapshot(ps)
			r := newTestReport(t, `format: table`)
			lines := r.render(s, c.cols, c.rows)
			header, body, total := checkFitted(t, lines, s, c.cols, c.rows)
			assert.Equal(t, c.header, header, "the columns kept at %d columns", c.cols)

			byValue := slices.Clone(ps)
			slices.SortFunc(byValue, func(a, b ProductTotals) int { return int(b.Value - a.Value) })
			shown := body
			if len(ps) > c.rows-1-5 {
				require.NotEmpty(t, body)
				outros := body[len(body)-1]
				shown = body[:len(body)-1]
				folded := byValue[len(shown):]
				assert.Equal(t, fmt.Sprintf("outros (%s produtos)", groupThousands(int64(len(folded)))), outros.name)
				assert.Equal(t, c.rows-1, len(lines), "the products fill the height")
				var units, orders, value int64
				for _, p := range folded {
					units += p.Units
					orders += p.Orders
					value += int64(p.Value)
				}
				if outros.hasUnits {
					assert.Equal(t, units, outros.units, "outros: units of the folded products")
				}
				if outros.hasOrders {
					assert.Equal(t, orders, outros.orders, "outros: orders of the folded products")
				}
				assert.Equal(t, value, outros.value, "outros: value of the folded products")
			} else {
				assert.Len(t, body, len(ps), "every product has its row")
			}
			var units, value int64
			for i, row := range body {
				units += row.units
				value += row.value
				if i < len(shown) {
					p := byValue[i]
					assert.Equal(t, int64(p.Value), row.value, "row %d is the %dth best seller", i, i+1)
					name := printableName(p.Name)
					if strings.HasSuffix(row.name, "…") {
						assert.True(t, strings.HasPrefix(name, strings.TrimSuffix(row.name, "…")), "%q shortens %q", row.name, name)
					} else {
						assert.Equal(t, name, row.name)
					}
				}
			}
			if total.hasUnits {
				assert.Equal(t, total.units, units, "shown rows + outros = total units")
			}
			assert.Equal(t, int64(s.Value), total.value, "total value")
			assert.Equal(t, total.value, value, "shown rows + outros = total value")
		})
	}
}

// TestReportFitGolden pins the look of a fitted table at 80×12.
func TestReportFitGolden(t *testing.T) {
	r := newTestReport(t, `format: table`)
	lines := r.render(fitSnapshot(fitProducts(30)), 80, 12)
	assert.Equal(t, ""+
		"Vendas por produto · 24/11/2026 18:04:01 · pedidos 123.456 · rejeitados 7\n"+
		"produto                            unidades  pedidos             valor  receita\n"+
		"---------------------------------  --------  -------  ----------------  -------\n"+
		"Smartphone Samsung Galaxy A15 12…     1.110    1.110   R$ 3.884.889,00    6,45%\n"+
		"日本茶 抹茶 プレミアム 100g           1.073    1.072   R$ 3.755.392,71    6,24%\n"+
		"Caneca ☕ Café ☕ Edição Especia…     1.036    1.034   R$ 3.625.896,42    6,02%\n"+
		"Cafe\u0301 Pila\u0303o Torrado e Moi\u0301do 500g         999      996   R$ 3.496.400,13    5,81%\n"+
		"Notebook Dell Inspiron 15               962      958   R$ 3.366.903,84    5,59%\n"+
		"outros (25 produtos)                 12.025   11.975  R$ 42.086.301,75   69,89%\n"+
		"---------------------------------  --------  -------  ----------------  -------\n"+
		"TOTAL                                17.205  123.456  R$ 60.215.783,85  100,00%",
		strings.Join(lines, "\n"))
}

// TestReportFollowsResize: the window's size is asked for at every table.
func TestReportFollowsResize(t *testing.T) {
	r := newTestReport(t, `{format: table, clear_screen: true}`)
	sizes := [][2]int{{160, 50}, {80, 24}, {120, 8}}
	r.size = func() (int, int, bool) {
		s := sizes[0]
		sizes = sizes[1:]
		return s[0], s[1], true
	}
	ps := fitProducts(64)
	for _, want := range []struct {
		cols, rows int
		change     bool
	}{{160, 50, true}, {80, 24, false}, {120, 8, true}} {
		// Every value grows, so that every row shows a change.
		for i := range ps {
			ps[i].Units *= 2
			ps[i].Value *= 2
		}
		s := fitSnapshot(ps)
		out := processOne(t, r, snapshotMsg(snapshotJSON(s)))
		require.True(t, strings.HasPrefix(out, "\x1b[H"), "drawn from the cursor's home: %q", out)
		require.True(t, strings.HasSuffix(out, "\x1b[J"), "the rest of the screen cleared: %q", out)
		lines := strings.Split(strings.NewReplacer("\x1b[H", "", "\x1b[K", "", "\x1b[J", "").Replace(out), "\n")
		checkFitted(t, lines, s, want.cols, want.rows)
		assert.Len(t, lines, want.rows-1)
		assert.Equal(t, want.change, strings.Contains(lines[1], "variação"), "%dx%d: %q", want.cols, want.rows, lines[1])
	}
}

// snapshotJSON writes s as sales_aggregate does, for Process.
func snapshotJSON(s *Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"pedidos":%d,"rejeitados":%d,"valor_total":%s,"produtos":[`, s.Orders, s.Rejected, s.Value)
	for i, p := range s.Products {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"produto":%q,"quantidade":%d,"pedidos":%d,"valor_total":%s}`, p.Name, p.Units, p.Orders, p.Value)
	}
	fmt.Fprintf(&b, `],"modo":"complete","offsets":{},"emitido_em":%q,"sequencia":%d}`, s.EmittedAt.Format(time.RFC3339), s.Sequence)
	return b.String()
}

// TestReportNotATerminal: without a terminal every product is printed, as
// before fitting existed.
func TestReportNotATerminal(t *testing.T) {
	r := newTestReport(t, `format: table`)
	s := fitSnapshot(fitProducts(64))
	out := processOne(t, r, snapshotMsg(snapshotJSON(s)))
	assert.Len(t, strings.Split(out, "\n"), 64+5)
	assert.NotContains(t, out, "outros (")
	assert.NotContains(t, out, "…")
	assert.NotContains(t, out, "\x1b")

	// fit_to_terminal: false prints the whole table even on a terminal.
	r = newTestReport(t, `{format: table, fit_to_terminal: false}`)
	assert.Equal(t, out, processOne(t, r, snapshotMsg(snapshotJSON(s))))
}

func TestDisplayWidthAndShorten(t *testing.T) {
	widths := []struct {
		s    string
		want int
	}{
		{"Café", 4},
		{"Cafe\u0301", 4},
		{"日本語", 6},
		{"ＡＢ", 4},
		{"한국", 4},
		{"☕", 2},
		{"©\ufe0f", 2},
		{"👩\u200d💻", 4},
		{"outros (9.983 produtos)", 23},
	}
	for _, c := range widths {
		assert.Equal(t, c.want, displayWidth(c.s), "%q", c.s)
	}
	shortened := []struct {
		s     string
		width int
		want  string
	}{
		{"Notebook Dell Inspiron 15", 25, "Notebook Dell Inspiron 15"},
		{"Notebook Dell Inspiron 15", 10, "Notebook …"},
		{"日本語テキスト", 5, "日本…"},
		{"日本語テキスト", 6, "日本…"},
		{"Cafe\u0301 Pila\u0303o", 6, "Cafe\u0301 …"},
		{"ab👩\u200d💻", 5, "ab👩…"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
	}
	for _, c := range shortened {
		got := shorten(c.s, c.width)
		assert.Equal(t, c.want, got, "shorten(%q, %d)", c.s, c.width)
		assert.LessOrEqual(t, displayWidth(got), max(c.width, 0))
	}
}

// TestReportTinyWindow: a window too small for the table still gets no
// line wider than it and no more lines than it has.
func TestReportTinyWindow(t *testing.T) {
	s := fitSnapshot(fitProducts(64))
	for _, size := range [][2]int{{1, 1}, {10, 3}, {20, 5}, {30, 6}, {12, 40}} {
		r := newTestReport(t, `format: table`)
		lines := r.render(s, size[0], size[1])
		assert.LessOrEqual(t, len(lines), max(size[1]-1, 1), "%v: %q", size, lines)
		for _, l := range lines {
			assert.LessOrEqual(t, displayWidth(l), max(size[0]-1, 1), "%v: %q", size, l)
		}
	}
}

// TestReportObserver: demo's hook sees the counts of every snapshot, in a
// stream built from the environment it was registered in, and only there.
func TestReportObserver(t *testing.T) {
	for _, format := range []string{formatTable, formatJSON} {
		t.Run(format, func(t *testing.T) {
			var mu sync.Mutex
			var seen [][2]int64
			env := service.GlobalEnvironment().Clone()
			require.NoError(t, RegisterReportObserver(env, func(orders, rejected int64) {
				mu.Lock()
				seen = append(seen, [2]int64{orders, rejected})
				mu.Unlock()
			}))
			snap := `{"pedidos":%d,"rejeitados":%d,"valor_total":1.00,"produtos":[{"produto":"X","quantidade":1,"pedidos":1,"valor_total":1.00}],"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`
			stream := func(env *service.Environment) {
				sb := env.NewStreamBuilder()
				require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
generate:
  count: 3
  interval: ""
  mapping: |
    let i = counter()
    meta sales_snapshot = if $i != 2 { "true" }
    root = match $i {
      1 => """%s""",
      2 => "a rejected record",
      _ => """%s""",
    }
`, fmt.Sprintf(snap, 10, 1), fmt.Sprintf(snap, 30, 1))))
				require.NoError(t, sb.AddProcessorYAML("sales_report:\n  format: "+format))
				// One thread, as the shipped config: snapshots in order.
				sb.SetThreads(1)
				require.NoError(t, sb.SetLoggerYAML("level: none"))
				require.NoError(t, sb.AddConsumerFunc(func(context.Context, *service.Message) error { return nil }))
				st, err := sb.Build()
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				require.NoError(t, st.Run(ctx))
			}
			stream(env)
			stream(service.GlobalEnvironment())
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, [][2]int64{{10, 1}, {30, 1}}, seen, "the two snapshots of the observed stream, not the rejected record, not the other stream")
		})
	}
}

// BenchmarkReportFit10000 is one redraw of 10 000 products at 80×24, the
// most max_products allows in a partition.
func BenchmarkReportFit10000(b *testing.B) {
	s := fitSnapshot(fitProducts(10000))
	r := &salesReport{table: true, view: map[string]ProductTotals{}, printed: map[string]order.Cents{}}
	b.ReportAllocs()
	for b.Loop() {
		r.render(s, 80, 24)
	}
}
