package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/aggregate"
	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// The simulated day of TestWindowsSimulatedDayKilled: 60 000 orders at
// 2 400/s (25 s), their event times spread over one São Paulo day.
const (
	dayOrders    = 60_000
	dayRate      = 2_400
	dayStart     = "2026-11-24T00:00:00-03:00"
	dayLateness  = 10 * time.Minute // consume-janelas.yaml's WINDOW_LATENESS default
	dayWindowLen = time.Hour
)

// saoPaulo is São Paulo's offset since 2019 (no daylight saving time), kept
// apart from the order package so the sum below stays independent of it.
var saoPaulo = time.FixedZone("-03", -3*3600)

// dayProduceConfig is config/produce.yaml with what it does not expose in
// its environment: a simulated clock running one day over the run, and
// fault classes limited to disorder (fora_de_ordem, 1-10 min back), late
// orders (atrasado, 1-24 h back) and duplicates (duplicado, the record sent
// twice), so that every record is a valid order.
func dayProduceConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, err)
	const anchor = "    fault_rate: ${ORDERS_FAULT_RATE:0}\n"
	require.Equal(t, 1, strings.Count(string(raw), anchor), "produce.yaml has one %q line", strings.TrimSpace(anchor))
	const clockAnchor = "    clock:\n      speed: ${ORDERS_CLOCK_SPEED:1}\n"
	require.Equal(t, 1, strings.Count(string(raw), clockAnchor), "produce.yaml has one clock block setting the speed from ORDERS_CLOCK_SPEED")
	speed := 86400 * dayRate / dayOrders // simulated seconds per real second
	faults := `    faults:
      fora_de_ordem: 0.03
      atrasado: 0.005
      duplicado: 0.005
`
	clock := fmt.Sprintf(`    clock:
      mode: simulated
      start: %q
      speed: %d
`, dayStart, speed)
	conf := strings.Replace(string(raw), anchor, anchor+faults, 1)
	conf = strings.Replace(conf, clockAnchor, clock, 1)
	path := filepath.Join(t.TempDir(), "produce-day.yaml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	return path
}

// emittedWindow is one window line of consume-janelas.yaml's stdout.
type emittedWindow struct {
	run  int // 1-based consumer run that printed it
	line int // its index in that run's stdout
	w    *aggregate.WindowTotals
	raw  string
}

// windowLines parses the window lines of a run's stdout (every line is
// one: the snapshots are mapped away).
func windowLines(t *testing.T, run int, lines []string) []emittedWindow {
	t.Helper()
	var out []emittedWindow
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		require.True(t, strings.HasPrefix(l, `{"janela":`), "run %d stdout line %d is not a window: %.200s", run, i+1, l)
		w, err := aggregate.ParseWindow([]byte(l))
		require.NoError(t, err, "run %d stdout line %d: %.200s", run, i+1, l)
		out = append(out, emittedWindow{run: run, line: i, w: w, raw: l})
	}
	return out
}

// dayWindow is the independent total of one window.
type dayWindow struct {
	start time.Time
	sum   kafkatest.Sum
	cents int64
}

// independentWindows sums every record of recs (each a valid order; a
// duplicate counts again, as the consumer counts records) per hour of
// data_hora_venda in São Paulo time, with encoding/json and
// kafkatest.SumOrders. It also returns the greatest event time.
func independentWindows(t *testing.T, recs []kafkatest.Record) (map[int64]*dayWindow, time.Time) {
	t.Helper()
	byStart := map[int64][][]byte{}
	var maxEvent time.Time
	for _, r := range recs {
		var o struct {
			SoldAt string `json:"data_hora_venda"`
		}
		require.NoError(t, json.Unmarshal(r.Value, &o), "record %d/%d", r.Partition, r.Offset)
		at, err := time.ParseInLocation("02/01/2006 15:04:05", o.SoldAt, saoPaulo)
		require.NoError(t, err, "record %d/%d: data_hora_venda", r.Partition, r.Offset)
		if at.After(maxEvent) {
			maxEvent = at
		}
		// São Paulo's offset is whole hours: its hours start with UTC's.
		start := at.Truncate(dayWindowLen).Unix()
		byStart[start] = append(byStart[start], r.Value)
	}
	out := map[int64]*dayWindow{}
	for start, values := range byStart {
		s, err := kafkatest.SumOrders(values)
		require.NoError(t, err)
		require.Zero(t, s.Rejected, "every generated record is a valid order")
		d := &dayWindow{start: time.Unix(start, 0).In(saoPaulo), sum: s}
		for _, p := range s.Products {
			d.cents += p.Cents
		}
		out[start] = d
	}
	return out, maxEvent
}

// totaisOrders is pedidos of the consumer's /totais, or -1 before it has one.
func totaisOrders(addr string) int64 {
	resp, err := http.Get("http://" + addr + "/totais")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return -1
	}
	s, err := kafkatest.ParseSnapshot(string(body))
	if err != nil {
		return -1
	}
	return s.Orders
}

// latestWindows is, per window start, the emission with the greatest
// revisao, then the greatest pedidos.
func latestWindows(all []emittedWindow) map[int64]emittedWindow {
	out := map[int64]emittedWindow{}
	for _, e := range all {
		k := e.w.Start.Unix()
		cur, ok := out[k]
		if !ok || e.w.Revision > cur.w.Revision || (e.w.Revision == cur.w.Revision && e.w.Orders > cur.w.Orders) {
			out[k] = e
		}
	}
	return out
}

// windowDiff says how an emitted window differs from the independent sum,
// or "" when it equals it: pedidos, valor_total and each product's
// quantidade, pedidos and valor_total to the centavo.
func windowDiff(got *aggregate.WindowTotals, want *dayWindow) string {
	var diffs []string
	if want == nil {
		return fmt.Sprintf("no order of the topic falls in it (it says pedidos=%d)", got.Orders)
	}
	if got.Orders != want.sum.Orders {
		diffs = append(diffs, fmt.Sprintf("pedidos %d, want %d", got.Orders, want.sum.Orders))
	}
	if int64(got.Value) != want.cents {
		diffs = append(diffs, fmt.Sprintf("valor_total %d centavos, want %d", int64(got.Value), want.cents))
	}
	seen := map[string]bool{}
	for _, p := range got.Products {
		seen[p.Name] = true
		w, ok := want.sum.Products[p.Name]
		g := kafkatest.ProductSum{Units: p.Units, Orders: p.Orders, Cents: int64(p.Value)}
		if !ok || g != w {
			diffs = append(diffs, fmt.Sprintf("%s: %+v, want %+v", p.Name, g, w))
		}
	}
	for name, w := range want.sum.Products {
		if !seen[name] {
			diffs = append(diffs, fmt.Sprintf("%s missing, want %+v", name, w))
		}
	}
	if len(diffs) > 6 {
		diffs = append(diffs[:6], fmt.Sprintf("… %d more", len(diffs)-6))
	}
	return strings.Join(diffs, "; ")
}

// TestWindowsSimulatedDayKilled is issue 12: a simulated day of orders with
// disorder, late orders and duplicates is produced at a steady rate into a
// 3-partition topic of a real Kafka while config/consume-janelas.yaml
// (1h windows, idle_timeout 5s) reads it; the consumer is killed with
// kill -9 three times, at spread-out points of the day, after it printed
// windows each time, and started again with the same group and state topic.
// Once the producer ended and the consumer counted every record, every
// window it printed, at its latest revision, must equal an independent sum
// over kcat's copy of the topic (pedidos, valor_total, and per product
// quantidade, pedidos and valor_total to the centavo); every window the
// final watermark passed must have been printed; a window's revisao never
// goes down from one line to the next, across the runs; every amendment
// (revisao >= 2) has atrasados > 0; and there are at least 10 windows and
// one amendment.
func TestWindowsSimulatedDayKilled(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.RealBrokers(t)
	began := time.Now()
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	t.Cleanup(func() {
		// consume-janelas.yaml created the state topic.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = kafkatest.Admin(t, brokers).DeleteTopics(ctx, topic+"_janelas")
	})
	group := "janelas-" + topic
	consumeConf := kafkatest.ConfigPath("consume-janelas.yaml")
	consumeEnvFor := func() (map[string]string, string) {
		env := consumeEnv(brokers, topic, group)
		env["AGGREGATE_INTERVAL"] = "200ms"
		env["WINDOW"] = "1h"
		env["WINDOW_IDLE"] = "5s"
		addr := freeAddr(t)
		env["CONSUME_HTTP_ADDRESS"] = addr
		return env, addr
	}
	day, err := time.Parse(time.RFC3339, dayStart)
	require.NoError(t, err)

	env, addr := consumeEnvFor()
	cons := startConfig(t, "consume-janelas run 1", consumeConf, env)
	prodEnv := produceEnv(brokers, topic, dayOrders, fmt.Sprint(dayRate), "12")
	prod := startConfig(t, "produce day", dayProduceConfig(t), prodEnv)

	// Each run is killed once it printed a final window (revisao 1) at or
	// past 5h, 10h and 15h of the day: a third of the way each time.
	var all []emittedWindow
	kills := 0
	for run := 1; run <= 3; run++ {
		killAt := day.Add(time.Duration(5*run) * time.Hour)
		runStart := time.Now()
		require.NoError(t, cons.WaitUntil(time.Minute, func() bool {
			for _, l := range cons.Stdout() {
				if w, err := aggregate.ParseWindow([]byte(l)); err == nil && w.Revision == 1 && !w.Start.Before(killAt) {
					return true
				}
			}
			return false
		}), "run %d: no final window from %s on", run, killAt.Format(time.RFC3339))
		producing := !prod.Exited()
		cons.Kill()
		kills++
		got := windowLines(t, run, cons.Stdout())
		all = append(all, got...)
		require.NotEmpty(t, got)
		t.Logf("run %d: kill -9 after %d window lines, the last %s rev %d, producer running: %v, after %s",
			run, len(got), got[len(got)-1].w.Start.In(saoPaulo).Format("02/01 15:04"), got[len(got)-1].w.Revision,
			producing, time.Since(runStart).Round(time.Millisecond))
		evictGroupMembers(t, brokers, group)
		env, addr = consumeEnvFor()
		cons = startConfig(t, fmt.Sprintf("consume-janelas run %d", run+1), consumeConf, env)
	}
	const lastRun = 4

	require.NoError(t, prod.Wait(2*time.Minute), "produce ends by itself")
	t.Logf("producer done after %s", time.Since(began).Round(time.Millisecond))
	var records int64
	for _, end := range endOffsets(t, brokers, topic) {
		records += end
	}
	require.GreaterOrEqual(t, records, int64(dayOrders), "records on %s", topic)
	// /totais changes without a stdout line: poll it.
	require.Eventually(t, func() bool {
		return cons.Exited() || totaisOrders(addr) == records
	}, time.Minute, 100*time.Millisecond, "the last run's /totais never counted the %d records (pedidos=%d)", records, totaisOrders(addr))
	require.False(t, cons.Exited(), "the last run ended by itself: %v", cons.ExitErr())
	t.Logf("the last run counted every record after %s", time.Since(began).Round(time.Millisecond))

	recs := kafkatest.Kcat(t, brokers, topic)
	require.Len(t, recs, int(records))
	want, maxEvent := independentWindows(t, recs)
	// Once every partition is idle the watermark is the greatest event
	// time less allowed_lateness: every window ending by then is final.
	watermark := maxEvent.Add(-dayLateness)
	var mustClose []int64
	for start := range want {
		if !time.Unix(start, 0).Add(dayWindowLen).After(watermark) {
			mustClose = append(mustClose, start)
		}
	}
	slices.Sort(mustClose)
	// Wait (idle_timeout plus a margin) until every window the watermark
	// passed was printed and equals the sum; on a timeout the assertions
	// below say what differs.
	settled := func() bool {
		latest := latestWindows(append(slices.Clone(all), windowLines(t, lastRun, cons.Stdout())...))
		for _, start := range mustClose {
			e, ok := latest[start]
			if !ok || windowDiff(e.w, want[start]) != "" {
				return false
			}
		}
		return true
	}
	waitErr := cons.WaitUntil(30*time.Second, settled)
	if waitErr == nil {
		// Anything still on its way (it would be a wrong amendment).
		time.Sleep(2 * time.Second)
	}
	require.NoError(t, cons.Stop(30*time.Second), "a graceful stop ends with status 0")
	all = append(all, windowLines(t, lastRun, cons.Stdout())...)
	assert.NoError(t, waitErr, "every window the watermark (%s) passed is printed and equals the independent sum", watermark.Format(time.RFC3339))

	// Revisions per window never go down, in the order printed, across runs;
	// every amendment says some of its orders are late.
	lastRev := map[int64]emittedWindow{}
	amendments, badOrder := 0, 0
	for _, e := range all {
		k := e.w.Start.Unix()
		if p, ok := lastRev[k]; ok && e.w.Revision < p.w.Revision {
			if badOrder++; badOrder <= 10 {
				t.Errorf("window %s: revisao %d (run %d line %d) after revisao %d (run %d line %d):\n  %s\n  after %s",
					e.w.Start.In(saoPaulo).Format(time.RFC3339), e.w.Revision, e.run, e.line+1, p.w.Revision, p.run, p.line+1, e.raw, p.raw)
			}
		}
		lastRev[k] = e
		assert.True(t, e.w.End.Equal(e.w.Start.Add(dayWindowLen)), "window %s ends at %s", e.w.Start, e.w.End)
		assert.GreaterOrEqual(t, e.w.Revision, 1, "revisao: %s", e.raw)
		assert.LessOrEqual(t, e.w.Late, e.w.Orders, "atrasados <= pedidos: %s", e.raw)
		if e.w.Revision >= 2 {
			amendments++
			assert.Positive(t, e.w.Late, "an amendment has atrasados > 0 (run %d line %d): %s", e.run, e.line+1, e.raw)
		}
	}
	assert.Zero(t, badOrder, "lines whose revisao went down")

	// The latest revision of every printed window equals the independent sum.
	latest := latestWindows(all)
	starts := make([]int64, 0, len(latest))
	for k := range latest {
		starts = append(starts, k)
	}
	slices.Sort(starts)
	wrong := 0
	for _, k := range starts {
		e := latest[k]
		if d := windowDiff(e.w, want[k]); d != "" {
			wrong++
			t.Errorf("window %s revisao %d (run %d line %d) differs from the independent sum: %s\n  %.400s",
				e.w.Start.In(saoPaulo).Format(time.RFC3339), e.w.Revision, e.run, e.line+1, d, e.raw)
		}
	}
	assert.Zero(t, wrong, "windows whose latest revision differs from the independent sum")
	missing := 0
	for _, k := range mustClose {
		if _, ok := latest[k]; !ok {
			missing++
			t.Errorf("window %s (pedidos %d) ends before the final watermark %s but was never printed",
				time.Unix(k, 0).In(saoPaulo).Format(time.RFC3339), want[k].sum.Orders, watermark.Format(time.RFC3339))
		}
	}
	assert.Zero(t, missing, "closed windows never printed")
	assert.GreaterOrEqual(t, len(latest), 10, "windows printed")
	assert.Positive(t, amendments, "amendments (revisao >= 2) printed")
	assert.Equal(t, 3, kills)

	var lateOrders int64
	for _, k := range starts {
		lateOrders = max(lateOrders, latest[k].w.Late)
	}
	t.Logf("%d records (%d orders generated), %d windows in the topic from %s, %d of them before the final watermark %s; "+
		"printed: %d lines, %d windows, %d amendments, most atrasados in one window %d; kills: %d; wall time %s",
		records, dayOrders, len(want), time.Unix(slices.Min(slices.Collect(maps.Keys(want))), 0).In(saoPaulo).Format(time.RFC3339),
		len(mustClose), watermark.Format(time.RFC3339), len(all), len(latest), amendments, lateOrders, kills,
		time.Since(began).Round(time.Millisecond))
}
