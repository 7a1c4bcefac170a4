package liveview_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
	"github.com/vendas-connect/vendas-connect/plugins/liveview"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// RequireBrowserEnv, when set (.ci/run sets it), turns the skip for a
// missing Chromium into a failure.
const RequireBrowserEnv = "VENDAS_REQUIRE_BROWSER"

// ScreenshotEnv names a PNG file the dashboard test writes a 1280×800
// screenshot to (the README's docs/dashboard.png).
const ScreenshotEnv = "VENDAS_DASHBOARD_PNG"

// chromium returns the path of a Chromium, skipping the test without one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	reason := "no Chromium to test the dashboard in (apt-get install chromium, or set CHROMIUM to its path)"
	if os.Getenv(RequireBrowserEnv) != "" {
		t.Fatalf("%s; %s is set, so this must not be skipped", reason, RequireBrowserEnv)
	}
	t.Skip(reason)
	return ""
}

// browser is a headless Chromium whose console errors, uncaught exceptions
// and dialogs (an alert() a product name managed to run) the test collects.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	bad []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	b := &browser{ctx: ctx}
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return b
}

// tab opens a tab of the given viewport (mobile: a phone's, honouring the
// page's meta viewport).
func (b *browser) tab(t *testing.T, width, height int64, mobile bool) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.note(m.String() + " " + m.URL)
			}
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.note("a dialog opened: " + ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
		}
	}()
	vp := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if mobile {
		vp = append(vp, chromedp.EmulateMobile)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height, vp...)))
	return ctx
}

func (b *browser) note(msg string) {
	b.mu.Lock()
	b.bad = append(b.bad, msg)
	b.mu.Unlock()
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bad...)
}

// pageState is what the dashboard shows, read from the DOM.
type pageState struct {
	Seq       string     `json:"seq"`
	Estado    string     `json:"estado"`
	Pedidos   string     `json:"pedidos"`
	Unidades  string     `json:"unidades"`
	Receita   string     `json:"receita"`
	Barras    []barra    `json:"barras"`
	Particoes [][]string `json:"particoes"`
	Rejeicoes [][]string `json:"rejeicoes"`
	Scripts   int        `json:"scripts"`
	Marca     bool       `json:"marca"`
	Overflow  int        `json:"overflow"`
	Chart     bool       `json:"chart"`
}

type barra struct {
	Nome   string `json:"nome"`
	Valor  string `json:"valor"`
	Outros bool   `json:"outros"`
	Width  string `json:"width"`
}

const readPage = `JSON.stringify({
  seq: document.body.dataset.sequencia || "",
  estado: document.getElementById("estado").dataset.estado,
  pedidos: document.getElementById("pedidos").textContent,
  unidades: document.getElementById("unidades").textContent,
  receita: document.getElementById("receita").textContent,
  barras: [...document.querySelectorAll("#barras > li")].map(li => ({
    nome: li.querySelector(".nome").textContent, valor: li.querySelector(".valor").textContent,
    outros: li.classList.contains("outros"), width: li.querySelector(".preenchido").style.width})),
  particoes: [...document.querySelectorAll("#particoes > tr")].map(tr => [...tr.children].map(td => td.textContent)),
  rejeicoes: [...document.querySelectorAll("#rejeicoes > tr")].map(tr => [...tr.children].map(td => td.textContent)),
  scripts: document.scripts.length,
  marca: window.__semRecarga === true,
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  chart: !!document.querySelector("#taxa canvas"),
})`

func read(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](readPage))
	require.NoError(t, err)
	var s pageState
	require.NoError(t, json.Unmarshal([]byte(raw), &s), raw)
	return s
}

// waitPage reads the page until cond holds, failing after timeout.
func waitPage(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := read(t, ctx)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s within %v; it shows %+v", what, timeout, s)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// consume runs config/consume.yaml on topic, serving HTTP on a free port.
func consume(t *testing.T, brokers, topic string) (*kafkatest.Process, string) {
	t.Helper()
	addr := freeAddr(t)
	p := kafkatest.StartProcess(t, "consume", map[string]string{
		"KAFKA_BROKERS":        brokers,
		"KAFKA_TOPIC":          topic,
		"KAFKA_CONSUMER_GROUP": "g-" + topic,
		"OUTPUT_FORMAT":        "json",
		"AGGREGATE_INTERVAL":   "200ms",
		"CONSUME_HTTP_ADDRESS": addr,
		"LOG_LEVEL":            "WARN",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("consume.yaml"))
	return p, "http://" + addr
}

// produce runs config/produce.yaml until it has sent count orders.
func produce(t *testing.T, brokers, topic string, count int, rate, seed string) {
	t.Helper()
	p := kafkatest.StartProcess(t, "produce", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "ORDERS_COUNT": strconv.Itoa(count),
		"ORDERS_RATE": rate, "ORDERS_SEED": seed, "PRODUCE_HTTP_ADDRESS": "127.0.0.1:0",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, p.Wait(2*time.Minute), "produce.yaml must end by itself")
}

func produceRecords(t *testing.T, brokers, topic string, values ...[]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k-%d", i), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// orderJSON is a valid order of one line.
func orderJSON(id, name string, qty int64, price order.Cents) []byte {
	o := &order.Order{
		ID: id, Customer: "529.982.247-25",
		SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: 18, Minute: 3, Second: 59},
		Items:  []order.Item{{Name: name, Quantity: qty, UnitPrice: price}},
	}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

// snapshotWith polls /totais until it counts orders orders.
func snapshotWith(t *testing.T, base string, orders int64) (*aggregate.Snapshot, []byte) {
	t.Helper()
	return waitSnapshot(t, base, func(s *aggregate.Snapshot) bool { return s.Orders == orders })
}

// reais formats centavos as the dashboard does: R$ 1.234,56.
func reais(c order.Cents) string {
	return fmt.Sprintf("R$ %s,%02d", grouped(int64(c)/100), int64(c)%100)
}

func grouped(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "." + s[i:]
	}
	return s
}

// wantBars is what the bar chart must show for snapshot s: its first 15
// products and the rest folded into "outros".
func wantBars(s *aggregate.Snapshot) []barra {
	var bars []barra
	var rest order.Cents
	for i, p := range s.Products {
		if i < 15 {
			bars = append(bars, barra{Nome: p.Name, Valor: reais(p.Value)})
		} else {
			rest += p.Value
		}
	}
	if n := len(s.Products) - 15; n > 0 {
		label := fmt.Sprintf("outros (%s produtos)", grouped(int64(n)))
		if n == 1 {
			label = "outros (1 produto)"
		}
		bars = append(bars, barra{Nome: label, Valor: reais(rest), Outros: true})
	}
	return bars
}

func withoutWidths(bars []barra) []barra {
	out := make([]barra, len(bars))
	for i, b := range bars {
		b.Width = ""
		out[i] = b
	}
	return out
}

// assertShows checks that the page shows snapshot s: the totals, the bars
// and every partition's covered offset.
func assertShows(t *testing.T, st pageState, s *aggregate.Snapshot, topic string) {
	t.Helper()
	var units int64
	for _, p := range s.Products {
		units += p.Units
	}
	assert.Equal(t, grouped(s.Orders), st.Pedidos, "orders")
	assert.Equal(t, grouped(units), st.Unidades, "units")
	assert.Equal(t, reais(s.Value), st.Receita, "revenue")
	assert.Equal(t, wantBars(s), withoutWidths(st.Barras), "the bars are /totais' top 15 and outros")
	require.Len(t, st.Particoes, len(s.Offsets[topic]))
	for _, row := range st.Particoes {
		require.Len(t, row, 6)
		assert.Equal(t, topic, row[0])
		assert.Equal(t, strconv.FormatInt(s.Offsets[topic][row[1]], 10), row[2], "partition %s: offset covered", row[1])
		assert.Equal(t, "0", row[4], "partition %s: no lag once everything is counted", row[1])
	}
}

func TestDashboardInBrowser(t *testing.T) {
	br := newBrowser(t)
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)

	const first = 400
	produce(t, brokers, topic, first, "0", "11")
	const badCPF = "529.982.247-26"
	produceRecords(t, brokers, topic, []byte(strings.Replace(string(orderJSON("bad-1", "Mouse", 1, 5990)), "529.982.247-25", badCPF, 1)))
	_, base := consume(t, brokers, topic)
	s, _ := snapshotWith(t, base, first)
	require.Equal(t, int64(1), s.Rejected)

	desk := br.tab(t, 1280, 800, false)
	require.NoError(t, chromedp.Do(desk, chromedp.Navigate(base+"/")))
	st := waitPage(t, desk, 10*time.Second, "the latest snapshot", func(p pageState) bool { return p.Pedidos == grouped(first) })
	assertShows(t, st, s, topic)
	assert.Equal(t, "ao-vivo", st.Estado)
	require.Len(t, st.Rejeicoes, 1)
	require.Len(t, st.Rejeicoes[0], 3)
	assert.Regexp(t, `^[0-2] @ [0-9]+$`, st.Rejeicoes[0][1], "where the rejected record was read")
	assert.Contains(t, st.Rejeicoes[0][2], "documento_cliente", "the rejection reason is listed")
	assert.NotContains(t, st.Rejeicoes[0][2], badCPF)
	assert.LessOrEqual(t, st.Overflow, 0, "no horizontal scroll at 1280×800")
	assert.True(t, st.Chart, "the orders/s chart is drawn")

	// More orders arrive: the page shows them within 3 s, without a reload.
	_, err := chromedp.Run(desk, chromedp.Evaluate[bool](`window.__semRecarga = true`))
	require.NoError(t, err)
	const more = 1500
	produce(t, brokers, topic, more, "500", "12")
	sent := time.Now()
	st = waitPage(t, desk, 3*time.Second, "the new orders", func(p pageState) bool { return p.Pedidos == grouped(first+more) })
	t.Logf("the page showed the new orders %v after the producer ended", time.Since(sent).Round(time.Millisecond))
	assert.True(t, st.Marca, "the page was not reloaded")
	s, _ = snapshotWith(t, base, first+more)
	st = waitPage(t, desk, 10*time.Second, "the last snapshot", func(p pageState) bool { return p.Seq == strconv.FormatInt(s.Sequence, 10) })
	assertShows(t, st, s, topic)

	if path := os.Getenv(ScreenshotEnv); path != "" {
		png, err := chromedp.Run(desk, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("wrote the dashboard at 1280×800 to %s", path)
	}

	// Product names come from Kafka records: markup in one is shown as
	// text, never run.
	evil := []string{"<script>alert(1)</script>", `<img src=x onerror="alert(2)">`}
	produceRecords(t, brokers, topic,
		orderJSON("xss-1", evil[0], 10, 99_999_999),
		orderJSON("xss-2", evil[1], 10, 99_999_998))
	s, _ = snapshotWith(t, base, first+more+2)
	st = waitPage(t, desk, 10*time.Second, "the products named with markup", func(p pageState) bool { return p.Pedidos == grouped(first+more+2) })
	assertShows(t, st, s, topic)
	require.GreaterOrEqual(t, len(st.Barras), 2)
	assert.Equal(t, evil[0], st.Barras[0].Nome, "the name is shown as text")
	assert.Equal(t, evil[1], st.Barras[1].Nome)
	assert.Equal(t, 2, st.Scripts, "no script element was added")
	assert.Empty(t, br.errors(), "no console errors, exceptions or dialogs")

	// A phone: everything fits the width.
	phone := br.tab(t, 390, 844, true)
	require.NoError(t, chromedp.Do(phone, chromedp.Navigate(base+"/")))
	st = waitPage(t, phone, 10*time.Second, "the snapshot on a phone", func(p pageState) bool { return p.Pedidos == grouped(first+more+2) })
	assert.LessOrEqual(t, st.Overflow, 0, "no horizontal overflow at 390×844")
	assert.Equal(t, wantBars(s), withoutWidths(st.Barras))
	assert.Empty(t, br.errors(), "no console errors, exceptions or dialogs")
}

func TestDashboardWith10000Products(t *testing.T) {
	br := newBrowser(t)
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	const products = 10_000
	values := make([][]byte, products)
	for i := range values {
		values[i] = orderJSON(fmt.Sprintf("p-%d", i), fmt.Sprintf("Produto %05d", i), 1, order.Cents(100+i))
	}
	produceRecords(t, brokers, topic, values...)
	_, base := consume(t, brokers, topic)
	s, snapshot := snapshotWith(t, base, products)
	require.Len(t, s.Products, products)

	// The dashboard's view stays small: 15 products and the rest folded.
	resp, painel := get(t, base+"/totais/painel")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("/totais: %d bytes, /totais/painel: %d bytes", len(snapshot), len(painel))
	assert.Less(t, len(painel), 8<<10, "the dashboard's view does not grow with the products")

	tab := br.tab(t, 1280, 800, false)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(base+"/")))
	st := waitPage(t, tab, 10*time.Second, "10 000 products", func(p pageState) bool { return p.Pedidos == grouped(products) })
	assertShows(t, st, s, topic)
	require.Len(t, st.Barras, 16)
	assert.Equal(t, "outros (9.985 produtos)", st.Barras[15].Nome)

	// It keeps up while the totals change.
	produceRecords(t, brokers, topic, orderJSON("p-more", "Produto 00000", 1000, 100))
	waitPage(t, tab, 10*time.Second, "the next order", func(p pageState) bool { return p.Pedidos == grouped(products+1) })
	assert.Empty(t, br.errors(), "no console errors, exceptions or dialogs")
}

// orderAt is a valid order of one line sold at hh:mm on 24/11/2026.
func orderAt(id, name string, hh, mm uint8, price order.Cents) []byte {
	o := &order.Order{
		ID: id, Customer: "529.982.247-25",
		SoldAt: order.LocalTime{Year: 2026, Month: 11, Day: 24, Hour: hh, Minute: mm},
		Items:  []order.Item{{Name: name, Quantity: 1, UnitPrice: price}},
	}
	o.Total = o.ItemsTotal()
	return o.AppendJSON(nil)
}

const readWindows = `JSON.stringify({
  hidden: document.getElementById("janelas-painel").hidden,
  rows: [...document.querySelectorAll("#janelas > tr")].map(tr => [tr.dataset.janela, ...[...tr.children].map(td => td.textContent)]),
})`

// TestDashboardShowsWindows: with consume-janelas.yaml the page shows the
// window still open and the last one closed, and an amendment without a
// reload when a late order comes.
func TestDashboardShowsWindows(t *testing.T) {
	br := newBrowser(t)
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 1)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	produceRecords(t, brokers, topic,
		orderAt("w-1", "Caneca", 10, 5, 1990),
		orderAt("w-2", "Mouse", 10, 40, 5990),
		orderAt("w-3", "Mouse", 11, 30, 5990))
	addr := freeAddr(t)
	kafkatest.StartProcess(t, "consume-janelas", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "KAFKA_CONSUMER_GROUP": "g-" + topic,
		"OUTPUT_FORMAT": "json", "AGGREGATE_INTERVAL": "200ms", "WINDOW_IDLE": "30s",
		"CONSUME_HTTP_ADDRESS": addr, "LOG_LEVEL": "WARN",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("consume-janelas.yaml"))
	snapshotWith(t, "http://"+addr, 3)

	tab := br.tab(t, 1280, 800, false)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate("http://"+addr+"/")))
	type windowsState struct {
		Hidden bool       `json:"hidden"`
		Rows   [][]string `json:"rows"`
	}
	readW := func() windowsState {
		raw, err := chromedp.Run(tab, chromedp.Evaluate[string](readWindows))
		require.NoError(t, err)
		var w windowsState
		require.NoError(t, json.Unmarshal([]byte(raw), &w), raw)
		return w
	}
	wait := func(what string, cond func(windowsState) bool) windowsState {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			w := readW()
			if cond(w) {
				return w
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page did not show %s; it shows %+v", what, w)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Watermark 11:20 (11:30 less 10m): 10:00 is final, 11:00 open.
	w := wait("the open and the closed window", func(w windowsState) bool { return !w.Hidden && len(w.Rows) == 2 })
	require.Len(t, w.Rows[0], 7)
	assert.Equal(t, "aberta", w.Rows[0][0])
	assert.Equal(t, []string{"aberta", "1", "0", reais(5990), "Mouse"}, w.Rows[0][2:])
	assert.Equal(t, "fechada", w.Rows[1][0])
	assert.Equal(t, []string{"final", "2", "0", reais(7980), "Mouse, Caneca"}, w.Rows[1][2:])

	// A late order for 10:00: the closed window is amended on the page.
	_, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.__semRecarga = true`))
	require.NoError(t, err)
	produceRecords(t, brokers, topic, orderAt("w-4", "Caneca", 10, 20, 1990))
	sent := time.Now()
	w = wait("the amendment", func(w windowsState) bool { return len(w.Rows) == 2 && w.Rows[1][2] == "revisão 2" })
	t.Logf("the page showed the amendment %v after the late order was written", time.Since(sent).Round(time.Millisecond))
	assert.Equal(t, []string{"revisão 2", "3", "1", reais(9970), "Mouse, Caneca"}, w.Rows[1][2:])
	marca, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.__semRecarga === true`))
	require.NoError(t, err)
	assert.True(t, marca, "the page was not reloaded")
	assert.Empty(t, br.errors(), "no console errors, exceptions or dialogs")
}

// TestDashboardShowsOverflow: a view whose sums over partitions exceed int64
// (CONTRACT section 8: estouro, on the view and on a window). The page says
// ESTOURO in red under its title, naming the sums, and flags the window row
// whose sums overflow. Real orders cannot get there (an order is at most
// R$ 1 000 000 000,00, so it would take 92 million of them at that), hence
// a view written here and served by a Hub, as consume.yaml serves its own.
func TestDashboardShowsOverflow(t *testing.T) {
	br := newBrowser(t)
	h := liveview.NewHub()
	t.Cleanup(h.Close)
	mux := http.NewServeMux()
	for _, r := range h.Routes() {
		mux.HandleFunc(r.Path, r.Handler)
	}
	mux.HandleFunc("/", liveview.DashboardAt("/"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	const most = "92233720368547758.07" // the largest int64 of centavos
	window := func(inicio, fim, estouro string) string {
		return `{"inicio":"2026-11-24T` + inicio + `:00-03:00","fim":"2026-11-24T` + fim + `:00-03:00","revisao":1,"pedidos":4,"atrasados":0,` +
			`"valor_total":"` + most + `","top":[{"produto":"Iate","valor_total":"` + most + `"}]` + estouro + `}`
	}
	painel := `{"sequencia":1,"emitido_em":"2026-12-02T04:53:29.829-03:00","pedidos":4,"rejeitados":0,` +
		`"quantidade":9223372036854775807,"valor_total":"` + most + `","produtos":1,` +
		`"estouro":{"campos":["valor_total"],"produtos":["Iate"]},` +
		`"top":[{"produto":"Iate","quantidade":9223372036854775807,"pedidos":4,"valor_total":"` + most + `"}],` +
		`"outros":{"produtos":0,"quantidade":0,"valor_total":"0.00"},"particoes":[],"rejeicoes":[],` +
		`"janelas":{"atual":` + window("11:00", "12:00", "") +
		`,"ultima_fechada":` + window("10:00", "11:00", `,"estouro":{"campos":["valor_total"],"produtos":["Iate"]}`) +
		`,"fechadas_ate":"2026-11-24T11:00:00-03:00"}}`
	require.True(t, json.Valid([]byte(painel)), painel)
	h.Publish(&liveview.Frame{Seq: 1, Snapshot: []byte(`{}`), Painel: []byte(painel)})

	tab := br.tab(t, 1280, 800, false)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")))
	const readOverflow = `JSON.stringify({
  banner: document.getElementById("estouro").hidden ? "" : document.getElementById("estouro").textContent,
  color: getComputedStyle(document.getElementById("estouro")).color,
  rows: [...document.querySelectorAll("#janelas > tr")].map(tr => ({cls: tr.className, title: tr.title, estado: tr.children[1].textContent, valor: tr.children[4].textContent, color: getComputedStyle(tr.children[1]).color})),
})`
	type row struct{ Cls, Title, Estado, Valor, Color string }
	var got struct {
		Banner, Color string
		Rows          []row
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw, err := chromedp.Run(tab, chromedp.Evaluate[string](readOverflow))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(raw), &got), raw)
		if got.Banner != "" && len(got.Rows) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show the overflow; it shows %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, "ESTOURO: somas acima do maior int64, mostradas nele: valor_total, Iate", got.Banner)
	require.Len(t, got.Rows, 2)
	open, closed := got.Rows[0], got.Rows[1]
	assert.Equal(t, row{Estado: "aberta", Valor: "R$ 92.233.720.368.547.758,07"}, row{Cls: open.Cls, Title: open.Title, Estado: open.Estado, Valor: open.Valor}, "no estouro on the open window")
	assert.NotEqual(t, got.Color, open.Color, "the open window's row is not in the banner's colour")
	assert.Equal(t, row{Cls: "estouro", Title: got.Banner, Estado: "final · ESTOURO", Valor: "R$ 92.233.720.368.547.758,07", Color: got.Color}, closed, "the flagged row is in the banner's colour")
	assert.Empty(t, br.errors(), "no console errors, exceptions or dialogs")
}
