package aggregate

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func newTestReport(t *testing.T, yaml string) *salesReport {
	t.Helper()
	conf, err := reportSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	r, err := newSalesReportFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	return r
}

func snapshotMsg(s string) *service.Message {
	m := service.NewMessage([]byte(s))
	m.MetaSetMut(MetaSnapshot, "true")
	return m
}

func processOne(t *testing.T, r *salesReport, m *service.Message) string {
	t.Helper()
	out, err := r.Process(context.Background(), m)
	require.NoError(t, err)
	require.Len(t, out, 1)
	b, err := out[0].AsBytes()
	require.NoError(t, err)
	return string(b)
}

func TestReportTable(t *testing.T) {
	r := newTestReport(t, `format: table`)
	first := `{"pedidos":1520,"rejeitados":3,"valor_total":1445458.70,"produtos":[` +
		`{"produto":"Notebook Dell Inspiron 15","quantidade":412,"pedidos":390,"valor_total":1441958.80},` +
		`{"produto":"Café Torrado","quantidade":1170,"pedidos":1130,"valor_total":3499.90}],` +
		`"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`
	assert.Equal(t, ""+
		"Vendas por produto · 24/11/2026 18:04:01 · pedidos 1.520 · rejeitados 3 · snapshot 1\n"+
		"produto                    unidades  pedidos            valor  receita          variação\n"+
		"-------------------------  --------  -------  ---------------  -------  ----------------\n"+
		"Notebook Dell Inspiron 15       412      390  R$ 1.441.958,80   99,76%  +R$ 1.441.958,80\n"+
		"Café Torrado                  1.170    1.130      R$ 3.499,90    0,24%      +R$ 3.499,90\n"+
		"-------------------------  --------  -------  ---------------  -------  ----------------\n"+
		"TOTAL                         1.582    1.520  R$ 1.445.458,70  100,00%  +R$ 1.445.458,70",
		processOne(t, r, snapshotMsg(first)))

	// An update merges into the view: the table stays complete, only the
	// changed product shows a change, and the order follows the value.
	update := `{"pedidos":1521,"rejeitados":3,"valor_total":1448958.60,"produtos":[` +
		`{"produto":"Café Torrado","quantidade":2170,"pedidos":1131,"valor_total":6999.80}],` +
		`"modo":"update","offsets":{},"emitido_em":"2026-11-24T18:04:03-03:00","sequencia":2}`
	assert.Equal(t, ""+
		"Vendas por produto · 24/11/2026 18:04:03 · pedidos 1.521 · rejeitados 3 · snapshot 2\n"+
		"produto                    unidades  pedidos            valor  receita      variação\n"+
		"-------------------------  --------  -------  ---------------  -------  ------------\n"+
		"Notebook Dell Inspiron 15       412      390  R$ 1.441.958,80   99,52%\n"+
		"Café Torrado                  2.170    1.131      R$ 6.999,80    0,48%  +R$ 3.499,90\n"+
		"-------------------------  --------  -------  ---------------  -------  ------------\n"+
		"TOTAL                         2.582    1.521  R$ 1.448.958,60  100,00%  +R$ 3.499,90",
		processOne(t, r, snapshotMsg(update)))
}

func TestReportEmptySnapshot(t *testing.T) {
	r := newTestReport(t, `{}`)
	got := processOne(t, r, snapshotMsg(`{"pedidos":0,"rejeitados":2,"valor_total":0.00,"produtos":[],"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`))
	assert.Equal(t, ""+
		"Vendas por produto · 24/11/2026 18:04:01 · pedidos 0 · rejeitados 2 · snapshot 1\n"+
		"produto  unidades  pedidos    valor  receita  variação\n"+
		"-------  --------  -------  -------  -------  --------\n"+
		"-------  --------  -------  -------  -------  --------\n"+
		"TOTAL           0        0  R$ 0,00    0,00%", got)
}

func TestReportPassThrough(t *testing.T) {
	snap := `{"pedidos":1,"rejeitados":0,"valor_total":1.00,"produtos":[{"produto":"X","quantidade":1,"pedidos":1,"valor_total":1.00}],"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`
	cases := []struct {
		name, format string
		msg          *service.Message
		want         string
	}{
		{"rejected record, table", formatTable, func() *service.Message {
			m := service.NewMessage([]byte("not an order"))
			m.MetaSetMut(MetaRejectedReason, "invalid JSON at byte 0")
			return m
		}(), "not an order"},
		{"snapshot, json", formatJSON, snapshotMsg(snap), snap},
		{"not marked a snapshot", formatTable, service.NewMessage([]byte(snap)), snap},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newTestReport(t, "format: "+c.format)
			assert.Equal(t, c.want, processOne(t, r, c.msg))
		})
	}
}

func TestReportBadSnapshot(t *testing.T) {
	r := newTestReport(t, `format: table`)
	_, err := r.Process(context.Background(), snapshotMsg(`{"pedidos":1,"valor_total":1.001,"modo":"complete"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "valor_total")
}

func TestReportConfig(t *testing.T) {
	conf, err := reportSpec().ParseYAML(`format: html`, nil)
	require.NoError(t, err)
	_, err = newSalesReportFromConfig(conf, service.MockResources())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `field format: "html" is not one of table, json`)
}

func TestShareAndThousands(t *testing.T) {
	shares := []struct {
		part, total order.Cents
		want        string
	}{
		{1, 3, "33,33%"},
		{2, 3, "66,67%"},
		{1, 1, "100,00%"},
		{0, 5, "0,00%"},
		{5, 0, "0,00%"},
		{1, 20001, "0,00%"},
		{1, 20000, "0,01%"}, // half up
		{order.Cents(9e18), order.Cents(9.1e18), "98,90%"},
	}
	for _, c := range shares {
		assert.Equal(t, c.want, share(c.part, c.total), "%d/%d", c.part, c.total)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1.000", 1234567: "1.234.567", -1234: "-1.234"} {
		assert.Equal(t, want, groupThousands(n))
	}
	assert.Equal(t, "+R$ 3.499,90", change(349990))
	assert.Empty(t, change(0))
}

func TestReportClearScreen(t *testing.T) {
	snap := `{"pedidos":1,"rejeitados":0,"valor_total":1.00,"produtos":[{"produto":"X","quantidade":1,"pedidos":1,"valor_total":1.00}],"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`
	plain := processOne(t, newTestReport(t, `format: table`), snapshotMsg(snap))
	cleared := processOne(t, newTestReport(t, `{format: table, clear_screen: true}`), snapshotMsg(snap))
	// Drawn over the previous table: home, each line cleared to its end,
	// then the rest of the screen; never a blank screen in between.
	assert.Equal(t, "\x1b[H"+strings.ReplaceAll(plain, "\n", "\x1b[K\n")+"\x1b[J", cleared)
	assert.NotContains(t, cleared, "\x1b[2J")
	// JSON lines are for programs: never prefixed.
	assert.Equal(t, snap, processOne(t, newTestReport(t, `{format: json, clear_screen: true}`), snapshotMsg(snap)))
}

// A product name is printed so that it cannot drive the terminal: no
// escape sequence, carriage return or bidirectional control reaches it,
// whatever made the snapshot.
func TestReportEscapesNames(t *testing.T) {
	cases := []struct{ name, want string }{
		{"Clear\x1b[2J\x1b[H", `Clear\u001b[2J\u001b[H`},
		{"Title\x1b]0;pwned\x07", `Title\u001b]0;pwned\u0007`},
		{"CSI\u009b2J", `CSI\u009b2J`},
		{"Back\rspace\bdel\x7f", `Back\u000dspace\u0008del\u007f`},
		{"Two\nlines\ttab", `Two\u000alines\u0009tab`},
		{"Notebook \u202eSI", `Notebook \u202eSI`},
		{"Iso\u2066late\u2069 \u200e\u200f\u061c", `Iso\u2066late\u2069 \u200e\u200f\u061c`},
		{"Line\u2028sep", `Line\u2028sep`},
		{"Bad \xff\xc3 UTF-8", `Bad \xff\xc3 UTF-8`},
		{"Zero\u200bwidth\ufeff", `Zero\u200bwidth\ufeff`},
		// Printable text is left alone, emoji joiners included.
		{"Café Pilão 500g · Tênis nº 42", "Café Pilão 500g · Tênis nº 42"},
		{"Caneca 👩\u200d💻 ½\u00a0kg", "Caneca 👩\u200d💻 ½\u00a0kg"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			r := newTestReport(t, `format: table`)
			out := strings.Join(r.render(&Snapshot{
				Orders:   1,
				Value:    100,
				Mode:     ModeComplete,
				Products: []ProductTotals{{Name: c.name, Units: 1, Orders: 1, Value: 100}},
			}, 0, 0), "\n")
			lines := strings.Split(out, "\n")
			require.Len(t, lines, 6, out)
			assert.True(t, strings.HasPrefix(lines[3], c.want+"  "), "%q", lines[3])
			assert.True(t, utf8.ValidString(out))
			for _, r := range out {
				assert.False(t, r != '\n' && order.IsControlRune(r), "%U in %q", r, out)
			}
		})
	}

	// Through Process, from a snapshot message: JSON escapes are decoded and
	// must be escaped again.
	r := newTestReport(t, `format: table`)
	out := processOne(t, r, snapshotMsg(`{"pedidos":1,"rejeitados":0,"valor_total":1.00,"produtos":[{"produto":"X\u001b[31m\u001b]2;t\u0007","quantidade":1,"pedidos":1,"valor_total":1.00}],"modo":"complete","offsets":{},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":1}`))
	assert.NotContains(t, out, "\x1b")
	assert.NotContains(t, out, "\x07")
	assert.Contains(t, out, `X\u001b[31m\u001b]2;t\u0007  `)
}
