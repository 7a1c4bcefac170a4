package aggregate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// Snapshot is a snapshot message read back, money in centavos.
type Snapshot struct {
	Orders    int64
	Rejected  int64
	Value     order.Cents
	Products  []ProductTotals
	Mode      Mode
	Offsets   map[string]map[string]int64
	EmittedAt time.Time
	Sequence  int64
	// OverflowFields and OverflowProducts name the sums over partitions
	// shown at the largest int64 (estouro).
	OverflowFields, OverflowProducts []string
}

type snapshotDoc struct {
	Pedidos    int64                       `json:"pedidos"`
	Rejeitados int64                       `json:"rejeitados"`
	ValorTotal json.Number                 `json:"valor_total"`
	Produtos   []productDoc                `json:"produtos"`
	Modo       string                      `json:"modo"`
	Offsets    map[string]map[string]int64 `json:"offsets"`
	EmitidoEm  string                      `json:"emitido_em"`
	Sequencia  int64                       `json:"sequencia"`
	Estouro    overflowDoc                 `json:"estouro"`
}

type productDoc struct {
	Produto    string      `json:"produto"`
	Quantidade int64       `json:"quantidade"`
	Pedidos    int64       `json:"pedidos"`
	ValorTotal json.Number `json:"valor_total"`
}

// ParseSnapshot reads a snapshot as sales_aggregate writes it. Money goes
// from the JSON text to centavos without a float.
func ParseSnapshot(data []byte) (*Snapshot, error) {
	var doc snapshotDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing snapshot: %w", err)
	}
	s := &Snapshot{Orders: doc.Pedidos, Rejected: doc.Rejeitados, Offsets: doc.Offsets, Sequence: doc.Sequencia,
		OverflowFields: doc.Estouro.Campos, OverflowProducts: doc.Estouro.Produtos}
	var err error
	if s.Value, err = order.ParseSum([]byte(doc.ValorTotal)); err != nil {
		return nil, fmt.Errorf("parsing snapshot: valor_total %q: %w", doc.ValorTotal, err)
	}
	if s.Mode, err = ParseMode(doc.Modo); err != nil {
		return nil, fmt.Errorf("parsing snapshot: modo: %w", err)
	}
	if doc.EmitidoEm != "" {
		if s.EmittedAt, err = time.Parse(time.RFC3339, doc.EmitidoEm); err != nil {
			return nil, fmt.Errorf("parsing snapshot: emitido_em: %w", err)
		}
	}
	s.Products = make([]ProductTotals, len(doc.Produtos))
	for i, p := range doc.Produtos {
		v, err := order.ParseSum([]byte(p.ValorTotal))
		if err != nil {
			return nil, fmt.Errorf("parsing snapshot: produtos[%d].valor_total %q: %w", i, p.ValorTotal, err)
		}
		s.Products[i] = ProductTotals{Name: p.Produto, Units: p.Quantidade, Orders: p.Pedidos, Value: v}
	}
	return s, nil
}
