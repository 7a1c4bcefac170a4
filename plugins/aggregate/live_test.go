package aggregate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/liveview"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// painelDoc is the dashboard's view (CONTRACT section 8) as a client reads it.
type painelDoc struct {
	Sequencia  uint64 `json:"sequencia"`
	EmitidoEm  string `json:"emitido_em"`
	Pedidos    int64  `json:"pedidos"`
	Rejeitados int64  `json:"rejeitados"`
	Quantidade int64  `json:"quantidade"`
	ValorTotal string `json:"valor_total"`
	Produtos   int    `json:"produtos"`
	Top        []struct {
		Produto    string `json:"produto"`
		Quantidade int64  `json:"quantidade"`
		Pedidos    int64  `json:"pedidos"`
		ValorTotal string `json:"valor_total"`
	} `json:"top"`
	Outros struct {
		Produtos   int    `json:"produtos"`
		Quantidade int64  `json:"quantidade"`
		ValorTotal string `json:"valor_total"`
	} `json:"outros"`
	Particoes []struct {
		Topico        string `json:"topico"`
		Particao      int32  `json:"particao"`
		ProximoOffset int64  `json:"proximo_offset"`
		Dono          string `json:"dono"`
		Fim           *int64 `json:"fim"`
		Atraso        *int64 `json:"atraso"`
	} `json:"particoes"`
	Rejeicoes []struct {
		Topico   *string `json:"topico"`
		Particao *int32  `json:"particao"`
		Offset   *int64  `json:"offset"`
		Motivo   string  `json:"motivo"`
		Em       string  `json:"em"`
	} `json:"rejeicoes"`
	Janelas *struct {
		Atual         *liveWindowDoc `json:"atual"`
		UltimaFechada *liveWindowDoc `json:"ultima_fechada"`
		FechadasAte   *string        `json:"fechadas_ate"`
	} `json:"janelas"`
}

type liveWindowDoc struct {
	Inicio     string `json:"inicio"`
	Fim        string `json:"fim"`
	Revisao    int    `json:"revisao"`
	Pedidos    int64  `json:"pedidos"`
	Atrasados  int64  `json:"atrasados"`
	ValorTotal string `json:"valor_total"`
	Top        []struct {
		Produto    string `json:"produto"`
		ValorTotal string `json:"valor_total"`
	} `json:"top"`
}

// TestLiveViewShowsWindows: with windows, the dashboard's view has the
// window still open and the last one closed, over every partition.
func TestLiveViewShowsWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	b := newTestBuffer(t, "interval: 1ms\nwindow: 1h\nallowed_lateness: 0s\nidle_timeout: 0s\n")
	require.NotNil(t, b.live)
	mk := func(id int, hour, minute uint8, name string, price order.Cents) []byte {
		o := &order.Order{
			ID: fmt.Sprintf("ord-%d", id), Customer: validCPF(rng),
			SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: hour, Minute: minute},
			Items:  []order.Item{{Name: name, Quantity: 1, UnitPrice: price}},
		}
		o.Total = o.ItemsTotal()
		return o.AppendJSON(nil)
	}
	batch := service.MessageBatch{
		kafkaMsg(mk(0, 10, 5, "Caneca", 1990), testTopic, 0, 0),
		kafkaMsg(mk(1, 10, 40, "Caneca", 1990), testTopic, 1, 0),
		kafkaMsg(mk(2, 11, 30, "Mouse", 9900), testTopic, 0, 1),
		kafkaMsg(mk(3, 11, 45, "Mouse", 9900), testTopic, 1, 1),
	}
	require.NoError(t, b.WriteBatch(context.Background(), batch, func(context.Context, error) error { return nil }))
	takeSnapshot(t, b)
	p := parsePainel(t, b.live.hub.Latest().Painel)
	require.NotNil(t, p.Janelas, "windows are on")
	require.NotNil(t, p.Janelas.UltimaFechada, "10:00 closed when every partition passed 11:00")
	assert.Equal(t, "2026-11-24T10:00:00-03:00", p.Janelas.UltimaFechada.Inicio)
	assert.Equal(t, 1, p.Janelas.UltimaFechada.Revisao)
	assert.Equal(t, int64(2), p.Janelas.UltimaFechada.Pedidos, "over both partitions")
	assert.Equal(t, order.Cents(3980), cents(t, p.Janelas.UltimaFechada.ValorTotal))
	require.NotNil(t, p.Janelas.Atual)
	assert.Equal(t, "2026-11-24T11:00:00-03:00", p.Janelas.Atual.Inicio)
	assert.Equal(t, int64(2), p.Janelas.Atual.Pedidos)
	require.Len(t, p.Janelas.Atual.Top, 1)
	assert.Equal(t, "Mouse", p.Janelas.Atual.Top[0].Produto)
	require.NotNil(t, p.Janelas.FechadasAte)
	assert.Equal(t, "2026-11-24T11:30:00-03:00", *p.Janelas.FechadasAte, "the smaller of the two partitions' watermarks")
}

func parsePainel(t *testing.T, data []byte) *painelDoc {
	t.Helper()
	var p painelDoc
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), string(data))
	return &p
}

func cents(t *testing.T, s string) order.Cents {
	t.Helper()
	c, err := order.ParseSum([]byte(s))
	require.NoError(t, err, s)
	return c
}

// oneProductOrder is a valid order of qty units of one product.
func oneProductOrder(rng *rand.Rand, id int, name string, qty int64, price order.Cents) []byte {
	o := &order.Order{
		ID: fmt.Sprintf("ord-%d", id), Customer: validCPF(rng),
		SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: 10},
		Items:  []order.Item{{Name: name, Quantity: qty, UnitPrice: price}},
	}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

// takeSnapshot reads the snapshot the buffer emits at its next tick.
func takeSnapshot(t *testing.T, b *salesAggregate) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		batch, ack, err := b.ReadBatch(ctx)
		require.NoError(t, err)
		require.NoError(t, ack(ctx, nil))
		for _, m := range batch { // window messages come first
			if v, _ := m.MetaGet(MetaSnapshot); v == "true" {
				data, err := m.AsBytes()
				require.NoError(t, err)
				return data
			}
		}
	}
}

func TestLiveViewPublishesThePrintedSnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	b := newTestBuffer(t, "interval: 1ms")
	require.NotNil(t, b.live, "the endpoints register on the mock manager")
	assert.Nil(t, b.live.hub.Latest(), "nothing is published before the first snapshot")

	// 40 products, product i sold i+1 times at R$ (i+1),01.
	var batch service.MessageBatch
	off := int64(0)
	for i := range 40 {
		for range i + 1 {
			batch = append(batch, kafkaMsg(oneProductOrder(rng, int(off), fmt.Sprintf("Produto %02d", i), 1, order.Cents(100*(i+1)+1)), testTopic, int32(i%3), off/3))
			off++
		}
	}
	require.NoError(t, b.WriteBatch(context.Background(), batch, func(context.Context, error) error { return nil }))
	printed := takeSnapshot(t, b)

	f := b.live.hub.Latest()
	require.NotNil(t, f)
	assert.Equal(t, string(printed), string(f.Snapshot), "/totais is the snapshot consume.yaml prints")
	snap, err := ParseSnapshot(f.Snapshot)
	require.NoError(t, err)
	assert.Equal(t, uint64(snap.Sequence), f.Seq, "the SSE event id is the snapshot's sequencia")

	p := parsePainel(t, f.Painel)
	assert.Equal(t, uint64(snap.Sequence), p.Sequencia)
	assert.Equal(t, snap.Orders, p.Pedidos)
	assert.Equal(t, snap.Value, cents(t, p.ValorTotal))
	assert.Equal(t, 40, p.Produtos)
	require.Len(t, p.Top, liveTop)
	var units int64
	for _, pr := range snap.Products {
		units += pr.Units
	}
	assert.Equal(t, units, p.Quantidade, "units over every product")
	// The top rows are the snapshot's first rows; the rest add up in outros.
	var topValue order.Cents
	for i, row := range p.Top {
		assert.Equal(t, snap.Products[i].Name, row.Produto)
		assert.Equal(t, snap.Products[i].Units, row.Quantidade)
		assert.Equal(t, snap.Products[i].Orders, row.Pedidos)
		assert.Equal(t, snap.Products[i].Value, cents(t, row.ValorTotal))
		topValue += cents(t, row.ValorTotal)
	}
	assert.Equal(t, "Produto 39", p.Top[0].Produto, "by value, descending")
	assert.Equal(t, 40-liveTop, p.Outros.Produtos)
	assert.Equal(t, snap.Value, topValue+cents(t, p.Outros.ValorTotal), "top + outros = valor_total")
	require.Len(t, p.Particoes, 3)
	for _, part := range p.Particoes {
		assert.Nil(t, part.Fim, "no high watermark was seen")
		assert.Nil(t, part.Atraso)
	}
}

func TestLiveViewUpdateModePublishesCompleteSnapshots(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	b := newTestBuffer(t, "interval: 1ms\nmode: update")
	ack := func(context.Context, error) error { return nil }
	msgs := service.MessageBatch{
		kafkaMsg(oneProductOrder(rng, 1, "Mouse", 1, 5000), testTopic, 0, 0),
		kafkaMsg(oneProductOrder(rng, 2, "Teclado", 1, 9000), testTopic, 0, 1),
	}
	require.NoError(t, b.WriteBatch(context.Background(), msgs, ack))
	takeSnapshot(t, b)
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{
		kafkaMsg(oneProductOrder(rng, 3, "Mouse", 2, 5000), testTopic, 0, 2),
	}, ack))
	printed, err := ParseSnapshot(takeSnapshot(t, b))
	require.NoError(t, err)
	require.Equal(t, ModeUpdate, printed.Mode)
	require.Len(t, printed.Products, 1, "the printed update lists the changed product only")

	live, err := ParseSnapshot(b.live.hub.Latest().Snapshot)
	require.NoError(t, err)
	assert.Equal(t, ModeComplete, live.Mode, "/totais is always complete")
	assert.Equal(t, printed.Sequence, live.Sequence)
	assert.Equal(t, printed.Orders, live.Orders)
	assert.Equal(t, []ProductTotals{
		{Name: "Mouse", Units: 3, Orders: 2, Value: 15000},
		{Name: "Teclado", Units: 1, Orders: 1, Value: 9000},
	}, live.Products)

	// The next update still lists only what changed: the live view does not
	// disturb the printed snapshots' memory of the previous one.
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{
		kafkaMsg(oneProductOrder(rng, 4, "Teclado", 1, 9000), testTopic, 0, 3),
	}, ack))
	next, err := ParseSnapshot(takeSnapshot(t, b))
	require.NoError(t, err)
	assert.Equal(t, []ProductTotals{{Name: "Teclado", Units: 2, Orders: 2, Value: 18000}}, next.Products)
}

func TestLiveViewRejectionsAndLag(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	b := newTestBuffer(t, "interval: 1ms")
	marks := &kafka.HighWatermarks{}
	b.mu.Lock()
	b.live.marks = marks
	b.mu.Unlock()

	// 25 rejected records with a CPF that is not valid, then a valid order.
	var batch service.MessageBatch
	const badCPF = "529.982.247-26"
	for i := range 25 {
		o := oneProductOrder(rng, i, "Mouse", 1, 5000)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(o, &doc))
		doc["documento_cliente"] = badCPF
		bad, err := json.Marshal(doc)
		require.NoError(t, err)
		batch = append(batch, kafkaMsg(bad, testTopic, 1, int64(i)))
	}
	batch = append(batch, kafkaMsg(oneProductOrder(rng, 99, "Mouse", 1, 5000), testTopic, 1, 25))
	marks.Set(testTopic, 1, 40)
	require.NoError(t, b.WriteBatch(context.Background(), batch, func(context.Context, error) error { return nil }))
	takeSnapshot(t, b)

	p := parsePainel(t, b.live.hub.Latest().Painel)
	assert.Equal(t, int64(25), p.Rejeitados)
	require.Len(t, p.Rejeicoes, liveRejects, "the latest reasons only")
	for i, r := range p.Rejeicoes {
		require.NotNil(t, r.Offset)
		assert.Equal(t, int64(24-i), *r.Offset, "newest first")
		assert.Equal(t, testTopic, *r.Topico)
		assert.Equal(t, int32(1), *r.Particao)
		assert.Contains(t, r.Motivo, "documento_cliente")
		assert.NotContains(t, r.Motivo, badCPF, "a reason never shows a whole CPF")
		assert.NotContains(t, r.Motivo, "529.", "a reason masks the CPF's first digits")
		assert.NotEmpty(t, r.Em)
	}
	require.Len(t, p.Particoes, 1)
	part := p.Particoes[0]
	assert.Equal(t, int64(26), part.ProximoOffset)
	require.NotNil(t, part.Fim)
	require.NotNil(t, part.Atraso)
	assert.Equal(t, int64(40), *part.Fim)
	assert.Equal(t, int64(14), *part.Atraso, "lag = high watermark - next offset to count")
}

func TestLiveViewEndsStreamsOnClose(t *testing.T) {
	b := newTestBuffer(t, "interval: 1ms")
	mux := http.NewServeMux()
	for _, rt := range b.live.hub.Routes() {
		mux.HandleFunc(rt.Path, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + liveview.PathStream)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The pipeline stops: its buffer closes, and so does the stream.
	require.NoError(t, b.Close(context.Background()))
	rest, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the stream ends cleanly")
	assert.Equal(t, "retry: 2000\n\n", string(rest))
	assert.Zero(t, b.live.hub.Streams())
}
