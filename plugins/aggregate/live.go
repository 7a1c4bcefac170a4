package aggregate

import (
	"strconv"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/liveview"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

const (
	// liveTop is how many products the dashboard draws; the rest are folded
	// into "outros", so that its view stays small with 10 000 products.
	liveTop = 15
	// liveRejects is how many recent rejection reasons the dashboard lists.
	liveRejects = 20
)

// liveView is the buffer's side of the HTTP view (package liveview): every
// snapshot taken is published complete, with the dashboard's view of it,
// built once here and shared by every client. Guarded by the buffer's mu.
type liveView struct {
	hub   *liveview.Hub
	marks *kafka.HighWatermarks // nil without a kafka_franz input

	// The latest rejections, a ring: reasons and positions only, never the
	// record (a reason never quotes a whole CPF, CONTRACT section 7).
	rejects    [liveRejects]rejectNote
	nRejects   int
	nextReject int

	buf []byte
}

type rejectNote struct {
	hasPos bool
	tp     TopicPartition
	offset int64
	reason string
	at     time.Time
}

// newLiveView registers the endpoints on the stream's HTTP server; without
// them (a build whose Benthos hides the server) the pipeline runs on and
// the log says why there is no /totais.
func newLiveView(mgr *service.Resources, input *kafka.InputInfo) *liveView {
	hub := liveview.NewHub()
	streams := mgr.Metrics().NewGauge("sales_live_streams")
	streams.Set(0)
	hub.SetStreamsGauge(func(n int64) { streams.Set(n) })
	if err := liveview.Register(mgr, hub); err != nil {
		mgr.Logger().Warnf("No totals over HTTP (/totais and the dashboard): %v", err)
		return nil
	}
	l := &liveView{hub: hub}
	if input != nil {
		l.marks = input.HighWatermarks
	}
	return l
}

// noteRejected remembers a rejection for the dashboard. Called with mu.
func (l *liveView) noteRejected(r *rejectedRecord, at time.Time) {
	if l == nil {
		return
	}
	l.rejects[l.nextReject] = rejectNote{hasPos: r.hasPos, tp: r.tp, offset: r.offset, reason: r.reason, at: at}
	l.nextReject = (l.nextReject + 1) % liveRejects
	l.nRejects = min(l.nRejects+1, liveRejects)
}

func (l *liveView) close() {
	if l != nil {
		l.hub.Close()
	}
}

// publishLiveLocked publishes the snapshot just taken (snapshot, in mode)
// and the dashboard's view of it. Called with mu, right after
// appendSnapshotLocked.
func (b *salesAggregate) publishLiveLocked(snapshot []byte, mode Mode, now time.Time) {
	l := b.live
	if l == nil {
		return
	}
	v := &b.view
	rows := v.rows
	var complete []byte
	if mode == ModeComplete {
		complete = append([]byte(nil), snapshot...)
	} else {
		rows = v.all
		complete = v.appendJSON(make([]byte, 0, len(snapshot)), rows, ModeComplete, now)
	}
	l.buf = b.appendPainelLocked(l.buf[:0], rows, now)
	l.hub.Publish(&liveview.Frame{Seq: v.seq, Snapshot: complete, Painel: append([]byte(nil), l.buf...)})
}

// appendPainelLocked writes the dashboard's view of the snapshot in b.view
// (CONTRACT section 8): the totals, the top products and the rest folded,
// each partition with its lag, and the latest rejections. Money is a string
// with two decimals, so that JavaScript reads it exactly.
func (b *salesAggregate) appendPainelLocked(dst []byte, rows []*ProductTotals, now time.Time) []byte {
	v, l := &b.view, b.live
	var units int64
	for _, t := range rows {
		addChecked(&units, t.Units)
	}
	dst = append(dst, `{"sequencia":`...)
	dst = strconv.AppendUint(dst, v.seq, 10)
	dst = append(dst, `,"emitido_em":"`...)
	dst = now.In(order.SaoPaulo).AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, `","pedidos":`...)
	dst = strconv.AppendInt(dst, v.orders, 10)
	dst = append(dst, `,"rejeitados":`...)
	dst = strconv.AppendInt(dst, v.rejected, 10)
	dst = append(dst, `,"quantidade":`...)
	dst = strconv.AppendInt(dst, units, 10)
	dst = append(dst, `,"valor_total":`...)
	dst = appendMoneyString(dst, v.value)
	dst = append(dst, `,"produtos":`...)
	dst = strconv.AppendInt(dst, int64(len(rows)), 10)
	dst = v.overflow.appendJSON(dst)

	dst = append(dst, `,"top":[`...)
	top := rows[:min(len(rows), liveTop)]
	for i, t := range top {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"produto":`...)
		dst = order.AppendString(dst, t.Name)
		dst = append(dst, `,"quantidade":`...)
		dst = strconv.AppendInt(dst, t.Units, 10)
		dst = append(dst, `,"pedidos":`...)
		dst = strconv.AppendInt(dst, t.Orders, 10)
		dst = append(dst, `,"valor_total":`...)
		dst = appendMoneyString(dst, t.Value)
		dst = append(dst, '}')
	}
	var rest ProductTotals
	for _, t := range rows[len(top):] {
		addChecked(&rest.Units, t.Units)
		addChecked(&rest.Value, t.Value)
	}
	dst = append(dst, `],"outros":{"produtos":`...)
	dst = strconv.AppendInt(dst, int64(len(rows)-len(top)), 10)
	dst = append(dst, `,"quantidade":`...)
	dst = strconv.AppendInt(dst, rest.Units, 10)
	dst = append(dst, `,"valor_total":`...)
	dst = appendMoneyString(dst, rest.Value)

	dst = append(dst, `},"particoes":[`...)
	for i := range v.parts {
		p := &v.parts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = p.appendFields(dst)
		// Only this member fetches its partitions: others' ends are unknown.
		hw, ok := int64(0), false
		if p.owner == b.member {
			hw, ok = l.marks.Get(p.tp.Topic, p.tp.Partition)
		}
		if ok {
			dst = append(dst, `,"fim":`...)
			dst = strconv.AppendInt(dst, hw, 10)
			dst = append(dst, `,"atraso":`...)
			dst = strconv.AppendInt(dst, max(hw-p.next, 0), 10)
		} else {
			dst = append(dst, `,"fim":null,"atraso":null`...)
		}
		dst = append(dst, '}')
	}

	dst = append(dst, `],"rejeicoes":[`...)
	for i := range l.nRejects {
		// Newest first.
		r := &l.rejects[(l.nextReject-1-i+2*liveRejects)%liveRejects]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		if r.hasPos {
			dst = append(dst, `"topico":`...)
			dst = order.AppendString(dst, r.tp.Topic)
			dst = append(dst, `,"particao":`...)
			dst = strconv.AppendInt(dst, int64(r.tp.Partition), 10)
			dst = append(dst, `,"offset":`...)
			dst = strconv.AppendInt(dst, r.offset, 10)
			dst = append(dst, ',')
		}
		dst = append(dst, `"motivo":`...)
		dst = order.AppendString(dst, r.reason)
		dst = append(dst, `,"em":"`...)
		dst = r.at.In(order.SaoPaulo).AppendFormat(dst, time.RFC3339)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, ']')
	if b.win != nil {
		dst = b.appendLiveWindowsLocked(dst)
	}
	return append(dst, '}')
}

func appendMoneyString(dst []byte, c order.Cents) []byte {
	dst = append(dst, '"')
	dst = c.AppendJSON(dst)
	return append(dst, '"')
}
