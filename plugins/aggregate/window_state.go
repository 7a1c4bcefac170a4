package aggregate

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// stateWinDoc is a window in a state record: produtos are
// [product index, units, orders, centavos].
type stateWinDoc struct {
	Inicio    int64      `json:"inicio"`
	Pedidos   int64      `json:"pedidos"`
	Atrasados int64      `json:"atrasados"`
	Centavos  int64      `json:"centavos"`
	Produtos  [][4]int64 `json:"produtos"`
}

// appendStateWindows writes the window fields of a state record.
func appendStateWindows(dst []byte, s *partitionState) []byte {
	dst = append(dst, `,"janela":`...)
	dst = order.AppendString(dst, s.WindowSpec)
	if s.MaxEvent != noTime {
		dst = append(dst, `,"evento_max":`...)
		dst = strconv.AppendInt(dst, s.MaxEvent, 10)
	}
	if s.Closed != noTime {
		dst = append(dst, `,"fechadas_ate":`...)
		dst = strconv.AppendInt(dst, s.Closed, 10)
	}
	dst = append(dst, `,"janelas":[`...)
	for i := range s.Windows {
		w := &s.Windows[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if w.enc != nil {
			dst = append(dst, w.enc...)
		} else {
			dst = appendStateWindow(dst, w)
		}
	}
	dst = append(dst, `],"emitidas":[`...)
	for i, m := range s.Marks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, m.Start, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(m.Rev), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, m.Orders, 10)
		dst = append(dst, ']')
	}
	if s.DedupeFrom >= 0 {
		dst = append(dst, `],"dedupe_desde":`...)
		dst = strconv.AppendInt(dst, s.DedupeFrom, 10)
		dst = append(dst, `,"duplicados":`...)
		dst = strconv.AppendInt(dst, s.Duplicates, 10)
		if s.DedupeMax != noTime {
			dst = append(dst, `,"dedupe_evento":`...)
			dst = strconv.AppendInt(dst, s.DedupeMax, 10)
		}
		dst = append(dst, `,"antigos":[`...)
	} else {
		dst = append(dst, `],"antigos":[`...)
	}
	for i, off := range s.TooOld {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, off, 10)
	}
	return append(dst, ']')
}

// appendStateWindow writes one window of a state record.
func appendStateWindow(dst []byte, w *stateWindow) []byte {
	dst = append(dst, `{"inicio":`...)
	dst = strconv.AppendInt(dst, w.Start, 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, w.Orders, 10)
	dst = append(dst, `,"atrasados":`...)
	dst = strconv.AppendInt(dst, w.Late, 10)
	dst = append(dst, `,"centavos":`...)
	dst = strconv.AppendInt(dst, int64(w.Value), 10)
	dst = append(dst, `,"produtos":[`...)
	for j, p := range w.Prods {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(p.Idx), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, p.Units, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, p.Orders, 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(p.Value), 10)
		dst = append(dst, ']')
	}
	dst = append(dst, "]}"...)
	return dst
}

// parseStateWindows reads the window fields of a state record into s.
func parseStateWindows(doc *stateDoc, s *partitionState) error {
	s.MaxEvent, s.Closed, s.DedupeFrom, s.DedupeMax = noTime, noTime, -1, noTime
	s.WindowSpec = doc.Janela
	if doc.Janela == "" {
		if doc.EventoMax != nil || doc.FechadasAte != nil || len(doc.Janelas) > 0 || len(doc.Emitidas) > 0 || len(doc.Antigos) > 0 {
			return errors.New("window fields without janela")
		}
		return nil
	}
	if doc.EventoMax != nil {
		s.MaxEvent = *doc.EventoMax
	}
	if doc.FechadasAte != nil {
		s.Closed = *doc.FechadasAte
	}
	for i, w := range doc.Janelas {
		if w.Pedidos < 0 || w.Atrasados < 0 || w.Atrasados > w.Pedidos || w.Centavos < 0 {
			return fmt.Errorf("janelas[%d]: inconsistent numbers (pedidos %d, atrasados %d, centavos %d)", i, w.Pedidos, w.Atrasados, w.Centavos)
		}
		sw := stateWindow{Start: w.Inicio, Orders: w.Pedidos, Late: w.Atrasados, Value: order.Cents(w.Centavos)}
		for j, p := range w.Produtos {
			if p[0] < 0 || p[0] >= int64(len(s.Products)) || p[1] < 0 || p[2] < 0 || p[2] > w.Pedidos || p[3] < 0 {
				return fmt.Errorf("janelas[%d].produtos[%d]: %v does not fit the partition's %d products", i, j, p, len(s.Products))
			}
			sw.Prods = append(sw.Prods, stateWinProd{Idx: int32(p[0]), Units: p[1], Orders: p[2], Value: order.Cents(p[3])})
		}
		s.Windows = append(s.Windows, sw)
	}
	for i, m := range doc.Emitidas {
		if m[1] < 1 || m[1] > math.MaxInt32 || m[2] < 0 {
			return fmt.Errorf("emitidas[%d]: %v is not [start, revision >= 1, orders]", i, m)
		}
		s.Marks = append(s.Marks, stateMark{Start: m[0], Rev: int32(m[1]), Orders: m[2]})
	}
	s.TooOld = doc.Antigos
	if doc.DedupeDesde != nil {
		if *doc.DedupeDesde < 0 || *doc.DedupeDesde > s.Next || doc.Duplicados < 0 {
			return fmt.Errorf("dedupe_desde %d, duplicados %d: inconsistent with proximo_offset %d", *doc.DedupeDesde, doc.Duplicados, s.Next)
		}
		s.DedupeFrom, s.Duplicates = *doc.DedupeDesde, doc.Duplicados
		if doc.DedupeEvento != nil {
			s.DedupeMax = *doc.DedupeEvento
		}
	}
	return nil
}
