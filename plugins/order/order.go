// Package order is the sales order model shared by the generator and the
// aggregator: the JSON form fixed by CONTRACT.md, money as int64 centavos,
// CPF check digits and the DD/MM/YYYY HH:MM:SS timestamp in São Paulo time.
package order

// JSON field names of an order, as fixed by CONTRACT.md.
const (
	FieldID        = "id_ordem"
	FieldCustomer  = "documento_cliente"
	FieldProducts  = "produtos"
	FieldName      = "nome"
	FieldQuantity  = "quantidade"
	FieldUnitPrice = "preco_unitario"
	FieldTotal     = "valor_total"
	FieldSoldAt    = "data_hora_venda"
)

// Item is one line of an order: a product, how many units and the unit price.
type Item struct {
	Name      string
	Quantity  int64
	UnitPrice Cents
}

// Order is one sale. Total must equal the sum of Quantity × UnitPrice.
type Order struct {
	ID       string
	Customer string // CPF formatted 000.000.000-00
	Items    []Item
	Total    Cents
	SoldAt   LocalTime
	// IDHash is a hash of ID, set by a Decoder with HashID.
	IDHash uint64
}

// ItemsTotal is the exact sum of quantity × unit price over the items.
func (o *Order) ItemsTotal() Cents {
	var sum Cents
	for i := range o.Items {
		sum += Cents(o.Items[i].Quantity) * o.Items[i].UnitPrice
	}
	return sum
}
