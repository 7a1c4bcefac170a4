package aggregate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// WindowTotals is a window message read back (CONTRACT.md section 10).
type WindowTotals struct {
	Start, End time.Time
	Revision   int
	Orders     int64
	Late       int64
	Value      order.Cents
	Products   []ProductTotals
	// ClosedUpTo is how far windows were closed when it was emitted; zero
	// at the end of the input.
	ClosedUpTo time.Time
	// OverflowFields and OverflowProducts name the sums over partitions
	// shown at the largest int64 (estouro).
	OverflowFields, OverflowProducts []string
}

type windowDoc struct {
	Janela struct {
		Inicio string `json:"inicio"`
		Fim    string `json:"fim"`
	} `json:"janela"`
	Revisao     int          `json:"revisao"`
	Pedidos     int64        `json:"pedidos"`
	Atrasados   int64        `json:"atrasados"`
	ValorTotal  json.Number  `json:"valor_total"`
	Produtos    []productDoc `json:"produtos"`
	FechadasAte *string      `json:"fechadas_ate"`
	Estouro     overflowDoc  `json:"estouro"`
	EmitidoEm   string       `json:"emitido_em"`
}

// ParseWindow reads a window message as sales_aggregate writes it. Money
// goes from the JSON text to centavos without a float.
func ParseWindow(data []byte) (*WindowTotals, error) {
	var doc windowDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing window: %w", err)
	}
	w := &WindowTotals{Revision: doc.Revisao, Orders: doc.Pedidos, Late: doc.Atrasados,
		OverflowFields: doc.Estouro.Campos, OverflowProducts: doc.Estouro.Produtos}
	var err error
	if w.Start, err = time.Parse(time.RFC3339, doc.Janela.Inicio); err != nil {
		return nil, fmt.Errorf("parsing window: janela.inicio: %w", err)
	}
	if w.End, err = time.Parse(time.RFC3339, doc.Janela.Fim); err != nil {
		return nil, fmt.Errorf("parsing window: janela.fim: %w", err)
	}
	if doc.FechadasAte != nil {
		if w.ClosedUpTo, err = time.Parse(time.RFC3339, *doc.FechadasAte); err != nil {
			return nil, fmt.Errorf("parsing window: fechadas_ate: %w", err)
		}
	}
	if w.Value, err = order.ParseSum([]byte(doc.ValorTotal)); err != nil {
		return nil, fmt.Errorf("parsing window: valor_total %q: %w", doc.ValorTotal, err)
	}
	for i, p := range doc.Produtos {
		v, err := order.ParseSum([]byte(p.ValorTotal))
		if err != nil {
			return nil, fmt.Errorf("parsing window: produtos[%d].valor_total %q: %w", i, p.ValorTotal, err)
		}
		w.Products = append(w.Products, ProductTotals{Name: p.Produto, Units: p.Quantidade, Orders: p.Pedidos, Value: v})
	}
	return w, nil
}

// windowTopRows is how many products a window's table lists before folding
// the rest into outros.
const windowTopRows = 10

// renderWindow lays out a window message as a table: the window and its
// revision, the top products by value, the rest as one outros row, the
// totals. Within a width (a terminal's), no line is longer.
func renderWindow(w *WindowTotals, width int) []string {
	rows := slices.Clone(w.Products)
	slices.SortFunc(rows, func(a, b ProductTotals) int { return byValueDesc(&a, &b) })
	body := make([][numCols]string, 0, windowTopRows+1)
	for i := range rows {
		if i == windowTopRows && len(rows) > windowTopRows+1 {
			o := tableRow{name: "outros (" + groupThousands(int64(len(rows)-i)) + " produtos)"}
			for _, p := range rows[i:] {
				addChecked(&o.units, p.Units)
				addChecked(&o.orders, p.Orders)
				addChecked(&o.value, p.Value)
			}
			body = append(body, o.cells(w.Value))
			break
		}
		t := tableRow{name: printableName(rows[i].Name), units: rows[i].Units, orders: rows[i].Orders, value: rows[i].Value}
		body = append(body, t.cells(w.Value))
	}
	var units int64
	for _, p := range rows {
		addChecked(&units, p.Units)
	}
	total := tableRow{name: "TOTAL", units: units, orders: w.Orders, value: w.Value}
	// No variação column: a window is not compared with an earlier table.
	return layout(windowTitle(w, width), body, total.cells(w.Value), width, true, false)
}

// windowTitle names the window in São Paulo time, whether it is final or an
// amendment, and its counts.
func windowTitle(w *WindowTotals, width int) string {
	start, end := w.Start.In(order.SaoPaulo), w.End.In(order.SaoPaulo)
	span := start.Format("02/01/2006 15:04 (-07:00)") + " a " + end.Format("15:04 (-07:00)")
	if y, m, d := start.Date(); end.Sub(start) > time.Hour && (end.Day() != d || end.Month() != m || end.Year() != y) {
		span = start.Format("02/01/2006 15:04 (-07:00)") + " a " + end.Format("02/01/2006 15:04 (-07:00)")
	}
	kind := "final"
	if w.Revision > 1 {
		kind = "revisão " + strconv.Itoa(w.Revision) + " · atrasados " + groupThousands(w.Late)
	}
	if len(w.OverflowFields)+len(w.OverflowProducts) > 0 {
		// Sums over partitions shown at the largest int64 (estouro).
		kind = "ESTOURO · " + kind
	}
	full := "Janela " + span + " · " + kind + " · pedidos " + groupThousands(w.Orders)
	if width <= 0 || displayWidth(full) <= width {
		return full
	}
	return shorten(strings.TrimPrefix(full, "Janela "), width)
}
