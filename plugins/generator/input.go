package generator

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

func init() {
	err := service.RegisterBatchInput("sales_orders", Spec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newInputFromConfig(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

// input is the sales_orders input.
type input struct {
	gen       *Generator
	count     uint64
	batchSize int
	pace      pacer
	log       *service.Logger

	generated *service.MetricCounter
	value     *service.MetricCounter
	ackedMet  *service.MetricCounter
	acked     atomic.Uint64

	// Batches the output refused wait here to be sent again: an order is
	// never lost, and the input only ends once every order is acknowledged.
	// (Benthos' AutoRetryNacksBatched does the same but copies every message
	// of every batch, a third of the cost of generating.)
	mu          sync.Mutex
	retry       []*pending
	outstanding int
	changed     chan struct{}
	// failures counts rounds of refusals since the last ack; retryAt is
	// when refused batches go out again (retryBackoff).
	failures int
	retryAt  time.Time
	// The refusal warning is logged at most once a minute (failWarnEvery).
	warnedAt    time.Time
	warnHeld    int
	warnHeldOrd int

	progressEvery time.Duration
	stop          chan struct{}
	ahead         <-chan *pending
	closeOnce     sync.Once
	scratch       order.Order
	faults        faultPicker

	// ackedTo is the last seq of the acknowledged prefix: every order up to
	// it is acknowledged. ackedAhead holds the batches acknowledged past it,
	// by first seq (acks come in any order). Both are guarded by mu.
	startSeq   uint64
	ackedTo    uint64
	ackedAhead map[uint64]uint64
	expected   *expectedWriter
}

// pacer lets orders out at a steady rate: order n is due at start + n/rate.
type pacer struct {
	rate    float64
	start   time.Time
	emitted uint64
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
}

// allowed is how many more orders are due now (at most limit), waiting for
// the next one if none is.
func (p *pacer) allowed(ctx context.Context, limit int) (int, error) {
	if p.rate <= 0 {
		return limit, nil
	}
	now := p.now()
	if p.start.IsZero() {
		p.start = now
	}
	for {
		due := uint64(now.Sub(p.start).Seconds()*p.rate) + 1
		if due > p.emitted {
			return int(min(due-p.emitted, uint64(limit))), nil
		}
		// Round the wait up so that, after it, the next order is surely due.
		next := p.start.Add(time.Duration(math.Ceil(float64(p.emitted) / p.rate * float64(time.Second))))
		if err := p.sleep(ctx, max(next.Sub(now), time.Nanosecond)); err != nil {
			return 0, err
		}
		now = p.now()
	}
}

// autoBatchSize is batch_size 0: large batches as fast as possible (a
// thousand orders per batch cost less per order than a hundred: the per-batch
// work of Benthos is shared by more orders), and for a paced stream about a
// hundred batches a second, so that it stays smooth.
func autoBatchSize(rate float64) int {
	if rate <= 0 {
		return 1000
	}
	return int(min(max(rate/100, 1), 1000))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newInputFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*input, error) {
	opts, err := optionsFromConfig(conf)
	if err != nil {
		return nil, err
	}
	count, err := numberFromConfig(conf, fieldCount)
	if err != nil {
		return nil, err
	}
	rate, err := numberFromConfig(conf, fieldRate)
	if err != nil {
		return nil, err
	}
	batchSize, err := intFromConfig(conf, fieldBatchSize)
	if err != nil {
		return nil, err
	}
	if batchSize == 0 {
		batchSize = autoBatchSize(rate)
	}
	if err := clockFromConfig(conf, &opts, rate); err != nil {
		return nil, err
	}
	gen, err := New(opts)
	if err != nil {
		return nil, err
	}
	startSeq, err := numberFromConfig(conf, fieldStartSeq)
	if err != nil {
		return nil, err
	}
	start := uint64(startSeq)
	if count > 0 && start > uint64(count) {
		return nil, fmt.Errorf("%s %d is past %s %v, the seq of the last order", fieldStartSeq, start, fieldCount, count)
	}
	gen.SkipTo(start)
	runCount := uint64(0)
	if count > 0 {
		runCount = uint64(count) - start + 1
	}
	in := &input{
		gen:        gen,
		count:      runCount,
		faults:     newFaultPicker(&opts),
		startSeq:   start,
		ackedTo:    start - 1,
		ackedAhead: map[uint64]uint64{},
		batchSize:  batchSize,
		pace:       pacer{rate: rate, now: time.Now, sleep: sleepCtx},
		log:        mgr.Logger(),
		generated:  mgr.Metrics().NewCounter("sales_orders_generated"),
		value:      mgr.Metrics().NewCounter("sales_orders_value_cents"),
		ackedMet:   mgr.Metrics().NewCounter("sales_orders_acked"),
		changed:    make(chan struct{}),
	}
	if conf.Contains(fieldProgress) {
		s, _ := conf.FieldString(fieldProgress)
		if s != "" {
			if in.progressEvery, err = conf.FieldDuration(fieldProgress); err != nil {
				return nil, err
			}
		}
	}
	if in.expected, err = expectedFromConfig(conf, opts, start, mgr.Logger()); err != nil {
		return nil, err
	}
	return in, nil
}

func optionsFromConfig(conf *service.ParsedConfig) (Options, error) {
	var opts Options
	seed, err := conf.FieldString(fieldSeed)
	if err != nil {
		return opts, err
	}
	if seed == "" {
		opts.Seed = time.Now().UnixNano()
	} else if opts.Seed, err = strconv.ParseInt(strings.TrimSpace(seed), 10, 64); err != nil {
		return opts, fmt.Errorf("%s must be an integer or empty (random), got %q%s", fieldSeed, seed, envHint(seed))
	}
	if opts.Catalog, err = catalogFromConfig(conf); err != nil {
		return opts, err
	}
	if opts.Customers, err = intFromConfig(conf, fieldCustomers); err != nil {
		return opts, err
	}
	if opts.MaxItems, err = intFromConfig(conf, fieldMaxItems); err != nil {
		return opts, err
	}
	if opts.MaxQuantity, err = intFromConfig(conf, fieldMaxQuantity); err != nil {
		return opts, err
	}
	if opts.PopularitySkew, err = numberFromConfig(conf, fieldPopularitySkew); err != nil {
		return opts, err
	}
	if opts.BasketDecay, err = numberFromConfig(conf, fieldBasketDecay); err != nil {
		return opts, err
	}
	if opts.QuantityDecay, err = numberFromConfig(conf, fieldQuantityDecay); err != nil {
		return opts, err
	}
	if opts.Instance, err = intFromConfig(conf, fieldInstance); err != nil {
		return opts, err
	}
	if opts.Faults, err = faultsFromConfig(conf); err != nil {
		return opts, err
	}
	if opts.EventTime, err = eventTimeFromConfig(conf); err != nil {
		return opts, err
	}
	return opts, nil
}

// eventTimeFromConfig reads event_time. Each field is read as text and
// parsed here, so that an error names the field, the value and the variable
// it came from.
func eventTimeFromConfig(conf *service.ParsedConfig) (EventTime, error) {
	var e EventTime
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{
		{fieldDisorderMax, &e.DisorderMax},
		{fieldLateMin, &e.LateMin},
		{fieldLateMax, &e.LateMax},
	} {
		raw, err := conf.FieldString(fieldEventTime, f.name)
		if err != nil {
			return e, err
		}
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return e, fmt.Errorf("%s.%s must be a duration such as 30m or 2h, got %q%s", fieldEventTime, f.name, raw, envHint(raw))
		}
		if err := checkShift(fieldEventTime+"."+f.name, d); err != nil {
			return e, fmt.Errorf("%w%s", err, envHint(raw))
		}
		*f.dst = d
	}
	return e, e.validate()
}

// faultsFromConfig reads faults (per class) and fault_rate (every other
// class).
func faultsFromConfig(conf *service.ParsedConfig) (FaultRates, error) {
	var rates FaultRates
	every, err := numberFromConfig(conf, fieldFaultRate)
	if err != nil {
		return rates, err
	}
	for f := FaultNotJSON; f < numFaults; f++ {
		rates[f] = every
	}
	byClass, err := conf.FieldFloatMap(fieldFaults)
	if err != nil {
		return rates, err
	}
	for name, r := range byClass {
		f, err := ParseFault(name)
		if err != nil {
			return rates, fmt.Errorf("%s: %w", fieldFaults, err)
		}
		rates[f] = r
	}
	return rates, rates.validate()
}

func catalogFromConfig(conf *service.ParsedConfig) ([]Product, error) {
	entries, err := conf.FieldObjectList(fieldCatalog)
	if err != nil {
		return nil, err
	}
	file, err := conf.FieldString(fieldCatalogFile)
	if err != nil {
		return nil, err
	}
	var products []Product
	switch {
	case len(entries) > 0 && file != "":
		return nil, fmt.Errorf("set %s or %s, not both", fieldCatalog, fieldCatalogFile)
	case file != "":
		if products, err = LoadCatalogFile(file); err != nil {
			return nil, err
		}
	case len(entries) > 0:
		for i, e := range entries {
			var p Product
			if p.Name, err = e.FieldString(catName); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", fieldCatalog, i, err)
			}
			if p.Category, err = e.FieldString(catCategory); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", fieldCatalog, i, err)
			}
			raw, err := e.FieldAny(catPrice)
			if err != nil {
				return nil, fmt.Errorf("%s[%d] %q: %w", fieldCatalog, i, p.Name, err)
			}
			if p.Price, err = priceFromAny(raw); err != nil {
				return nil, fmt.Errorf("%s[%d] %q: %w", fieldCatalog, i, p.Name, err)
			}
			products = append(products, p)
		}
	default:
		return DefaultCatalog(), nil
	}
	if err := ValidateCatalog(products); err != nil {
		return nil, err
	}
	return products, nil
}

func clockFromConfig(conf *service.ParsedConfig, opts *Options, rate float64) error {
	mode, err := conf.FieldString(fieldClock, fieldClockMode)
	if err != nil {
		return err
	}
	seeded, _ := conf.FieldString(fieldSeed)
	start, err := conf.FieldString(fieldClock, fieldClockStart)
	if err != nil {
		return err
	}
	if mode == clockAuto {
		mode = clockWall
		if seeded != "" {
			mode = clockSimulated
		}
	}
	if mode != clockSimulated {
		return nil
	}
	c := &opts.Clock
	c.Simulated = true
	switch {
	case start != "":
		if c.Start, err = time.Parse(time.RFC3339, start); err != nil {
			return fmt.Errorf("%s.%s must be an RFC 3339 time such as 2026-11-24T00:00:00-03:00, got %q", fieldClock, fieldClockStart, start)
		}
	case seeded != "":
		c.Start, _ = time.Parse(time.RFC3339, defaultSeededStart)
	default:
		c.Start = time.Now()
	}
	if c.Speed, err = numberFromConfig(conf, fieldClock, fieldClockSpeed); err != nil {
		return err
	}
	c.Rate = rate
	if rate == 0 {
		if c.Rate, err = numberFromConfig(conf, fieldClock, fieldClockRate); err != nil {
			return err
		}
	}
	return nil
}

func (in *input) Connect(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stop != nil {
		return nil
	}
	in.stop = make(chan struct{})
	go in.watchSignals(in.stop)
	if in.progressEvery > 0 {
		go in.logProgress(in.stop)
	}
	if in.expected != nil {
		go in.keepExpected(in.stop)
	}
	if in.pace.rate == 0 {
		ahead := make(chan *pending, 2)
		in.ahead = ahead
		go in.prefetch(ahead, in.stop)
	}
	return nil
}

func (in *input) logProgress(stop <-chan struct{}) {
	t := time.NewTicker(in.progressEvery)
	defer t.Stop()
	last, lastAt := uint64(0), time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			n := in.acked.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			in.log.Infof("orders acknowledged: %d (%.0f orders/s), generated: %d", n, rate, in.pace.emittedSnapshot())
			last, lastAt = n, now
		}
	}
}

// emittedSnapshot is read by the progress logger; only an approximation is
// needed there.
func (p *pacer) emittedSnapshot() uint64 { return atomic.LoadUint64(&p.emitted) }

// pending is a batch that is out for delivery: enough to send it again.
type pending struct {
	payloads [][]byte
	ids      []string
	firstSeq int64
	orders   int // payloads, less the duplicate copies
	value    order.Cents
	// With faults: the seq and the fault of each payload.
	seqs   []int64
	labels []Fault
}

func (p *pending) batch() service.MessageBatch {
	batch := make(service.MessageBatch, len(p.payloads))
	for i, b := range p.payloads {
		msg := service.NewMessage(b)
		msg.MetaSetMut("id_ordem", p.ids[i])
		if p.labels == nil {
			msg.MetaSetMut("seq", p.firstSeq+int64(i))
		} else {
			msg.MetaSetMut("seq", p.seqs[i])
			if f := p.labels[i]; f != NoFault {
				msg.MetaSetMut(FaultHeader, f.String())
			}
		}
		batch[i] = msg
	}
	return batch
}

func (in *input) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	for {
		in.mu.Lock()
		if len(in.retry) > 0 {
			p := in.retry[0]
			in.retry = in.retry[1:]
			in.outstanding++
			// Batches refused together wait together: until retryAt, which
			// backs off while the output keeps refusing.
			retryAt := in.retryAt
			in.mu.Unlock()
			if err := sleepCtx(ctx, time.Until(retryAt)); err != nil {
				in.requeue(p)
				return nil, nil, err
			}
			return p.batch(), in.ackFunc(p), nil
		}
		done := in.count > 0 && in.pace.emitted == in.count
		if !done {
			in.mu.Unlock()
			break
		}
		if in.outstanding == 0 {
			in.mu.Unlock()
			in.writeExpected(true)
			return nil, nil, service.ErrEndOfInput
		}
		// Everything is generated; wait for the last acks, which may be nacks.
		changed := in.changed
		in.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}

	var p *pending
	if in.ahead != nil {
		select {
		case p = <-in.ahead:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if p == nil {
			return nil, nil, service.ErrNotConnected
		}
	} else {
		n := in.batchSize
		if in.count > 0 {
			n = int(min(uint64(n), in.count-in.pace.emitted))
		}
		n, err := in.pace.allowed(ctx, n)
		if err != nil {
			return nil, nil, err
		}
		p = in.fill(n)
	}
	n := p.orders
	in.mu.Lock()
	in.outstanding++
	atomic.AddUint64(&in.pace.emitted, uint64(n))
	in.mu.Unlock()
	in.generated.Incr(int64(n))
	in.value.Incr(int64(p.value))
	return p.batch(), in.ackFunc(p), nil
}

func (in *input) ackFunc(p *pending) service.AckFunc {
	return func(_ context.Context, err error) error {
		if err != nil {
			in.noteFailure(p.orders, err)
			in.requeue(p)
			return nil
		}
		in.acked.Add(uint64(p.orders))
		in.ackedMet.Incr(int64(p.orders))
		in.mu.Lock()
		in.failures = 0
		in.outstanding--
		in.ackedAhead[uint64(p.firstSeq)] = uint64(p.orders)
		for {
			n, ok := in.ackedAhead[in.ackedTo+1]
			if !ok {
				break
			}
			delete(in.ackedAhead, in.ackedTo+1)
			in.ackedTo += n
		}
		in.signalLocked()
		in.mu.Unlock()
		return nil
	}
}

// Back-off of refused batches: 1s, 2s, 4s ... 30s while the output keeps
// refusing, from the first refusal after an ack.
const (
	retryInitial  = time.Second
	retryMax      = 30 * time.Second
	failWarnEvery = time.Minute
)

func retryBackoff(failures int) time.Duration {
	if failures > 6 {
		return retryMax
	}
	return min(retryInitial<<(failures-1), retryMax)
}

// noteFailure backs off the next retry and warns, at most once a minute,
// about orders the output refused.
func (in *input) noteFailure(orders int, err error) {
	now := time.Now()
	in.mu.Lock()
	// Batches refused at once (max_in_flight) are one round: only a refusal
	// after the wait is over makes the wait longer.
	if !now.Before(in.retryAt) {
		in.failures++
		in.retryAt = now.Add(retryBackoff(in.failures))
	}
	wait := time.Until(in.retryAt).Round(time.Millisecond)
	log := in.warnedAt.IsZero() || now.Sub(in.warnedAt) >= failWarnEvery
	held, heldOrders := in.warnHeld, in.warnHeldOrd
	if log {
		in.warnedAt, in.warnHeld, in.warnHeldOrd = now, 0, 0
	} else {
		in.warnHeld++
		in.warnHeldOrd += orders
	}
	in.mu.Unlock()
	if !log {
		return
	}
	more := ""
	if held > 0 {
		more = fmt.Sprintf(" (and %d more refusals of %d orders since the last report)", held, heldOrders)
	}
	in.log.Warnf("sales_orders: %d orders not delivered, sending them again in %v: %v%s", orders, wait, err, more)
}

func (in *input) requeue(p *pending) {
	in.mu.Lock()
	in.outstanding--
	in.retry = append(in.retry, p)
	in.signalLocked()
	in.mu.Unlock()
}

func (in *input) signalLocked() {
	close(in.changed)
	in.changed = make(chan struct{})
}

// fill generates n orders into a new pending batch. Their bytes share one
// allocation per batch.
func (in *input) fill(n int) *pending {
	const estimate = 320 // bytes of a typical order
	arena := make([]byte, 0, n*estimate)
	p := &pending{payloads: make([][]byte, n), ids: make([]string, n), firstSeq: int64(in.gen.Seq()) + 1, orders: n}
	o := &in.scratch
	if in.faults.any {
		return in.fillFaults(p, arena)
	}
	for i := range n {
		in.gen.Next(o)
		start := len(arena)
		arena = o.AppendJSON(arena)
		// Full slice expression: a later append that grows arena must not
		// write into this message.
		p.payloads[i], p.ids[i] = arena[start:len(arena):len(arena)], o.ID
		p.value += o.Total
	}
	return p
}

// fillFaults is fill with faults: an order's seq decides whether it is
// replaced by a record to reject, sent twice, or stamped out of order.
func (in *input) fillFaults(p *pending, arena []byte) *pending {
	n := p.orders
	p.payloads, p.ids = p.payloads[:0], p.ids[:0]
	p.seqs, p.labels = make([]int64, 0, n), make([]Fault, 0, n)
	o := &in.scratch
	for range n {
		in.gen.Next(o)
		seq := in.gen.Seq()
		f, bits := in.faults.at(seq)
		in.faults.shift(o, f, bits)
		start := len(arena)
		if f.Rejected() {
			arena = appendRejected(arena, f, o)
		} else {
			arena = o.AppendJSON(arena)
			p.value += o.Total
		}
		rec := arena[start:len(arena):len(arena)]
		label := f
		if f == FaultDuplicate {
			label = NoFault // the copy carries the label
		}
		p.payloads, p.ids = append(p.payloads, rec), append(p.ids, o.ID)
		p.seqs, p.labels = append(p.seqs, int64(seq)), append(p.labels, label)
		if f == FaultDuplicate {
			p.payloads, p.ids = append(p.payloads, rec), append(p.ids, o.ID)
			p.seqs, p.labels = append(p.seqs, int64(seq)), append(p.labels, f)
		}
	}
	return p
}

// prefetch generates batches ahead on its own goroutine when there is no
// rate to keep, so that making orders and handing them to the pipeline use
// both cores. Generation stays sequential, so the orders are the same.
func (in *input) prefetch(out chan<- *pending, stop <-chan struct{}) {
	defer close(out)
	made := uint64(0)
	for in.count == 0 || made < in.count {
		n := uint64(in.batchSize)
		if in.count > 0 {
			n = min(n, in.count-made)
		}
		p := in.fill(int(n))
		made += n
		select {
		case out <- p:
		case <-stop:
			return
		}
	}
}

func (in *input) Close(context.Context) error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		if in.stop != nil {
			close(in.stop)
		}
		done := in.count > 0 && in.ackedTo == in.startSeq-1+in.count
		in.mu.Unlock()
		in.writeExpected(done)
		in.reportClose()
	})
	return nil
}

var _ service.BatchInput = (*input)(nil)
