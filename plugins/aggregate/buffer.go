package aggregate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/lifecycle"
)

// maxRejectedPerBatch bounds how many rejected records one ReadBatch returns.
const maxRejectedPerBatch = 64

// Back-off before rejected records whose delivery failed are emitted again.
const (
	rejectRetryFirst = time.Second
	rejectRetryMax   = time.Minute
)

func init() {
	err := service.RegisterBatchBuffer("sales_aggregate", aggregateSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchBuffer, error) {
			return newSalesAggregateFromConfig(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

// exitProcess ends the process after a fatal error (a recreated topic, a
// stored offset the topic no longer has): continuing would mean counting
// wrong. Tests replace it.
var exitProcess = lifecycle.Exit

// livePart is the state of a partition this member counts.
type livePart struct {
	tp         TopicPartition
	topicID    [16]byte
	assignment uint64
	agg        *Aggregator
	// next is the next offset to count; records below it are counted.
	next int64
	// scan is how far records below next have been read again since the
	// partition was restored: rejected ones among them are emitted again.
	scan int64
	// dlqFloor is the restored state's dlq_desde: records below it read
	// again (to remember their ids, with dedupe) were delivered already.
	dlqFloor int64
	// unacked counts the rejected records emitted and not yet delivered,
	// per offset.
	unacked map[int64]int
	live    bool // false once revoked: kept until its last write
	// assignedAt is when it was installed: with windows, a partition with
	// nothing counted yet holds the watermark back for idle_timeout from it.
	assignedAt time.Time
	dirty      bool // changed since its last write
}

// dlqFrom is the lowest offset whose rejected record may not have reached
// the output.
func (p *livePart) dlqFrom() int64 {
	from := p.next
	if scan := max(p.scan, p.dlqFloor); scan < from {
		from = scan
	}
	for off := range p.unacked {
		if off < from {
			from = off
		}
	}
	return from
}

// salesAggregate is the sales_aggregate buffer. WriteBatch (the input side)
// and ReadBatch (the output side) run on different goroutines; with a state
// topic a third one, commitLoop, writes to it, and the input calls Assign
// and Revoke from the consumer group's. mu guards everything below it.
type salesAggregate struct {
	log        *service.Logger
	mode       Mode
	interval   time.Duration
	topics     map[string]struct{} // nil accepts any topic
	maxPending int
	// commitPeriod is the least time between the starts of two state
	// writes (pace), unless paceDue records wait for one.
	commitPeriod time.Duration
	paceDue      int
	maxProds     int
	now          func() time.Time
	member       string // host/pid, the owner named in snapshots
	stateTopic   string
	connOpts     *kafka.InputInfo
	win          *windowShared // nil without windows; guarded by mu

	mApplied    *service.MetricCounter
	mRejected   *service.MetricCounter
	mDuplicates *service.MetricCounter
	mStale      *service.MetricCounter
	mDupOrders  *service.MetricCounter
	mSnapshots  *service.MetricCounter
	mProducts   *service.MetricGauge
	mOwned      *service.MetricGauge
	mCommit     *service.MetricTimer

	ticker *time.Ticker
	tickC  <-chan time.Time

	readerWake chan struct{} // cap 1: something for ReadBatch
	commitWake chan struct{} // cap 1: something for commitLoop
	endCh      chan struct{} // closed by EndOfInput
	endOnce    sync.Once
	stopCommit chan struct{}
	commitDone chan struct{} // closed when commitLoop returns
	clReady    chan struct{} // closed once the state topic is open
	clOpenErr  error

	cl *changelog // nil in memory mode; set before clReady closes

	mu         sync.Mutex
	mem        *Aggregator // records without a Kafka position
	parts      map[TopicPartition]*livePart
	lastTP     TopicPartition
	last       *livePart
	assignSeq  uint64
	changed    bool
	view       snapshotView
	live       *liveView // nil when the HTTP endpoints could not be registered
	pendingAck []service.AckFunc
	pendingN   int // records not yet durable, including the write in progress
	committing bool
	urgent     bool          // a write is due without waiting for commitPeriod
	committed  chan struct{} // closed and replaced after each write
	failed     error         // nothing more is counted
	crash      bool          // tests: stop without writing

	ready        []*rejectedRecord // rejected records to emit
	inflight     int               // rejected records emitted, not yet acknowledged
	retryAt      time.Time         // rejected records wait until then after a failure
	retries      int
	lastRetryLog time.Time
	// The bytes of the rejected records ready or in flight: beyond maxHeld
	// records or maxHeldBytes, WriteBatch waits until some are delivered (a
	// DLQ that is down holds up counting rather than memory).
	heldBytes             int
	maxHeld, maxHeldBytes int
	drained               chan struct{} // closed and replaced as held records are delivered
	lastHeldLog           time.Time

	endOfInput bool
	final      finalState
	closed     bool
	snapBuf    []byte
	states     []*partitionState
}

var (
	_ service.BatchBuffer  = (*salesAggregate)(nil)
	_ kafka.PartitionOwner = (*salesAggregate)(nil)
)

type finalState uint8

const (
	finalNone finalState = iota
	finalInFlight
	finalDelivered
)

func newSalesAggregateFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*salesAggregate, error) {
	modeStr, err := conf.FieldString(fieldMode)
	if err != nil {
		return nil, err
	}
	mode, err := ParseMode(modeStr)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", fieldMode, err)
	}
	interval, err := conf.FieldDuration(fieldInterval)
	if err != nil {
		return nil, err
	}
	if interval < 0 {
		return nil, fmt.Errorf("field %s: %v is negative; use a positive duration, or 0s to emit only when the input ends", fieldInterval, interval)
	}
	stateDir, err := conf.FieldString(fieldStateDir)
	if err != nil {
		return nil, err
	}
	if stateDir != "" {
		return nil, fmt.Errorf("field %s (STATE_DIR in consume.yaml) is set to %q, but the state now lives on Kafka, in the topic of field %s: unset it (see the README, Scaling out)", fieldStateDir, stateDir, fieldStateTopic)
	}
	stateTopic, err := conf.FieldString(fieldStateTopic)
	if err != nil {
		return nil, err
	}
	topics, err := conf.FieldStringList(fieldTopics)
	if err != nil {
		return nil, err
	}
	maxPending, err := conf.FieldInt(fieldMaxPending)
	if err != nil {
		return nil, err
	}
	if maxPending < 1 {
		return nil, fmt.Errorf("field %s: %d is below 1", fieldMaxPending, maxPending)
	}
	commitPeriod, err := conf.FieldDuration(fieldCommitPeriod)
	if err != nil {
		return nil, err
	}
	if commitPeriod < 0 {
		return nil, fmt.Errorf("field %s: %v is negative", fieldCommitPeriod, commitPeriod)
	}
	maxHeld, maxHeldBytes, err := heldLimitsFrom(conf)
	if err != nil {
		return nil, err
	}
	maxProds, err := conf.FieldInt(fieldMaxProd)
	if err != nil {
		return nil, err
	}
	if maxProds < 1 || maxProds > maxProducts {
		return nil, fmt.Errorf("field %s: %d is not from 1 to %d (a partition's state must fit in one record of the state topic)", fieldMaxProd, maxProds, maxProducts)
	}
	for _, t := range topics {
		if t == "" {
			return nil, fmt.Errorf("field %s: empty topic name", fieldTopics)
		}
	}
	wconf, err := windowConfFrom(conf)
	if err != nil {
		return nil, err
	}
	input := kafka.StreamInput(mgr)
	if wconf != nil && interval == 0 && input != nil {
		return nil, fmt.Errorf("field %s: 0s with field %s and a kafka_franz input: windows close at the interval's ticks, and a Kafka input never ends, so none would ever be emitted; set an interval (consume-janelas.yaml: AGGREGATE_INTERVAL, 2s)", fieldInterval, fieldWindow)
	}
	if stateTopic != "" {
		switch {
		case input == nil:
			return nil, fmt.Errorf("field %s: the state is kept per Kafka partition, so the input must be kafka_franz (with a consumer_group)", fieldStateTopic)
		case input.Group == "":
			return nil, fmt.Errorf("field %s: the kafka_franz input has no consumer_group; set one (KAFKA_CONSUMER_GROUP in consume.yaml): the group assigns the partitions whose state this member restores", fieldStateTopic)
		}
		for _, t := range input.Topics {
			if t == stateTopic {
				return nil, fmt.Errorf("field %s: %q is also a topic the input reads; use another topic for the state", fieldStateTopic, stateTopic)
			}
		}
	}

	host, _ := os.Hostname()
	b := &salesAggregate{
		log:          mgr.Logger(),
		mode:         mode,
		interval:     interval,
		maxPending:   maxPending,
		commitPeriod: commitPeriod,
		paceDue:      paceDue(maxPending, input),
		maxProds:     maxProds,
		now:          time.Now,
		member:       memberName(host),
		stateTopic:   stateTopic,
		connOpts:     input,
		mApplied:     mgr.Metrics().NewCounter("sales_orders_applied"),
		mRejected:    mgr.Metrics().NewCounter("sales_records_rejected"),
		mDuplicates:  mgr.Metrics().NewCounter("sales_duplicates_skipped"),
		mStale:       mgr.Metrics().NewCounter("sales_stale_skipped"),
		mDupOrders:   mgr.Metrics().NewCounter("sales_orders_deduplicated"),
		mSnapshots:   mgr.Metrics().NewCounter("sales_snapshots_emitted"),
		mProducts:    mgr.Metrics().NewGauge("sales_products"),
		mOwned:       mgr.Metrics().NewGauge("sales_partitions_owned"),
		mCommit:      mgr.Metrics().NewTimer("sales_commit_latency_ns"),
		readerWake:   make(chan struct{}, 1),
		commitWake:   make(chan struct{}, 1),
		endCh:        make(chan struct{}),
		stopCommit:   make(chan struct{}),
		commitDone:   make(chan struct{}),
		clReady:      make(chan struct{}),
		committed:    make(chan struct{}),
		parts:        map[TopicPartition]*livePart{},
		maxHeld:      maxHeld,
		maxHeldBytes: maxHeldBytes,
		drained:      make(chan struct{}),
	}
	if wconf != nil {
		b.win = newWindowShared(*wconf)
		b.win.durable = stateTopic != ""
	}
	b.mem = b.newAgg()
	b.view.init()
	b.live = newLiveView(mgr, input)
	if len(topics) > 0 {
		b.topics = make(map[string]struct{}, len(topics))
		for _, t := range topics {
			b.topics[t] = struct{}{}
		}
	}
	if interval > 0 {
		b.ticker = time.NewTicker(interval)
		b.tickC = b.ticker.C
	}
	if input != nil {
		kafka.SetPartitionOwner(mgr, b)
	}
	if stateTopic == "" {
		close(b.commitDone)
		close(b.clReady)
		return b, nil
	}
	go b.openChangelog()
	go b.commitLoop()
	return b, nil
}

// instances numbers the sales_aggregate buffers of this process.
var instances atomic.Int64

// memberName is how snapshots and state records name this member:
// host/pid, and #N for a second buffer in the same process (tests, or
// several streams), so that each tells its own writes from the others'.
func memberName(host string) string {
	name := host + "/" + strconv.Itoa(os.Getpid())
	if n := instances.Add(1); n > 1 {
		name += "#" + strconv.FormatInt(n, 10)
	}
	return name
}

// openChangelog connects to the state topic in the background, so that a
// broker that is not up yet delays counting instead of failing the start.
func (b *salesAggregate) openChangelog() {
	defer close(b.clReady)
	wait := time.Second
	var lastLog time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cl, err := openChangelog(ctx, b.connOpts.ConnOpts, b.stateTopic, 1, b.log, b.onChangelogUpdate)
		cancel()
		if errors.Is(err, errNotCompacted) {
			b.clOpenErr = err
			b.fatal(err)
			return
		}
		if err == nil {
			// Under mu for the snapshots, which read it before clReady.
			b.mu.Lock()
			b.cl = cl
			b.mu.Unlock()
			return
		}
		if time.Since(lastLog) > time.Minute {
			b.log.Errorf("Opening the state topic (retrying, every %v at most): %v", rejectRetryMax, err)
			lastLog = time.Now()
		}
		select {
		case <-b.stopCommit:
			b.clOpenErr = err
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, rejectRetryMax)
	}
}

// onChangelogUpdate is called with every state record read back. Compaction
// keeps the latest record of a partition, not the most advanced: when
// another member (one that lost the partition without noticing) wrote after
// us a state behind ours, the partition is written again so that the latest
// is ours, the most advanced.
func (b *salesAggregate) onChangelogUpdate(s *partitionState, newest bool) {
	b.mu.Lock()
	lp := b.parts[s.tp()]
	switch {
	case lp != nil && lp.live && s.Writer != b.member && s.Next < lp.next:
		lp.dirty = true
		b.urgent = true
		b.mu.Unlock()
		wake(b.commitWake)
		return
	case newest && (lp == nil || !lp.live):
		b.changed = true
	}
	b.mu.Unlock()
}

func (b *salesAggregate) stopTicker() {
	if b.ticker != nil {
		b.ticker.Stop()
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fatal stops counting for good and ends the process: err says what does not
// fit and how to go on.
func (b *salesAggregate) fatal(err error) {
	b.mu.Lock()
	first := b.failed == nil
	if first {
		b.failed = err
		close(b.drained) // releases a WriteBatch waiting for room
		b.drained = make(chan struct{})
	}
	b.mu.Unlock()
	if first {
		b.log.Errorf("Stopping: %v", err)
		fmt.Fprintf(os.Stderr, "vendas-connect: sales_aggregate: %v\n", err)
		exitProcess(3)
	}
}

func hexID(id [16]byte) string { return hex.EncodeToString(id[:]) }

// errTopicRecreated names the topic, both IDs and the way out.
func (b *salesAggregate) errTopicRecreated(topic string, stored, now [16]byte) error {
	return fmt.Errorf("topic %s was deleted and created again: the state in topic %s counts the topic with ID %s, the topic now has ID %s; counting it on top of the old totals would be wrong. To start the totals afresh, delete the state: vendas-connect reset-state --brokers <brokers> --state-topic %s",
		topic, b.stateTopic, hexID(stored), hexID(now), b.stateTopic)
}

// Assign restores the state of newly assigned partitions and says where the
// input reads each from. Called by the input before it reads them.
func (b *salesAggregate) Assign(ctx context.Context, topic string, topicID [16]byte, partitions []int32) (map[int32]kafka.Start, error) {
	if b.topics != nil {
		if _, ok := b.topics[topic]; !ok {
			err := fmt.Errorf("the consumer group assigned partitions of topic %q, which field %s does not list", topic, fieldTopics)
			b.fatal(err)
			return nil, err
		}
	}
	starts := make(map[int32]kafka.Start, len(partitions))
	if b.stateTopic == "" {
		b.mu.Lock()
		for _, p := range partitions {
			b.assignSeq++
			tp := TopicPartition{topic, p}
			b.install(&livePart{tp: tp, topicID: topicID, assignment: b.assignSeq, agg: b.newAgg(), live: true})
			starts[p] = kafka.Start{FromBeginning: true, Assignment: b.assignSeq}
		}
		b.changed = true
		b.mu.Unlock()
		return starts, nil
	}

	select {
	case <-b.clReady:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.cl == nil {
		return nil, fmt.Errorf("state topic %s is not open: %v", b.stateTopic, b.clOpenErr)
	}
	if err := b.cl.caughtUp(ctx); err != nil {
		return nil, err
	}
	var stale *partitionState
	b.cl.each(func(s *partitionState) {
		if s.Topic == topic && s.TopicID != topicID && stale == nil {
			stale = s
		}
	})
	if stale != nil {
		err := b.errTopicRecreated(topic, stale.TopicID, topicID)
		b.fatal(err)
		return nil, err
	}
	firsts, ends, err := b.cl.offsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	restored := make([]*livePart, 0, len(partitions))
	for _, p := range partitions {
		tp := TopicPartition{topic, p}
		first, _ := firsts.Lookup(topic, p)
		end, _ := ends.Lookup(topic, p)
		lp := &livePart{tp: tp, topicID: topicID, agg: b.newAgg(), live: true}
		s := b.cl.state(tp)
		if s == nil {
			lp.next, lp.scan = first.Offset, first.Offset
			restored = append(restored, lp)
			continue
		}
		switch {
		case s.Next > end.Offset:
			err = fmt.Errorf("the state of topic %s partition %d in %s counts up to offset %d, but the partition ends at offset %d: the topic was truncated or recreated. To start the totals afresh: vendas-connect reset-state --brokers <brokers> --state-topic %s",
				topic, p, b.stateTopic, s.Next, end.Offset, b.stateTopic)
		case first.Offset > s.Next:
			err = fmt.Errorf("topic %s partition %d starts at offset %d, but its state in %s counts only up to offset %d: the records in between were deleted (retention) before they were counted. To start the totals afresh: vendas-connect reset-state --brokers <brokers> --state-topic %s",
				topic, p, first.Offset, b.stateTopic, s.Next, b.stateTopic)
		}
		if err == nil {
			err = b.checkWindowSpec(s)
		}
		if err != nil {
			b.fatal(err)
			return nil, err
		}
		lp.agg.restore(&loadedState{products: s.Products, since: s.Since, orders: s.Orders, rejected: s.Rejected})
		if lp.agg.win != nil {
			b.mu.Lock()
			lp.agg.win.restore(s)
			b.mu.Unlock()
		}
		lp.next, lp.scan, lp.dlqFloor = s.Next, s.DLQFrom, s.DLQFrom
		if w := lp.agg.win; w != nil && w.dedupe != nil {
			if s.WindowSpec != "" && s.DedupeFrom < 0 && s.Orders > 0 {
				b.log.Warnf("Topic %s partition %d: its state was written without dedupe; the orders counted before offset %d are not remembered, so a copy of one of them would be counted", topic, p, s.Next)
			}
			if s.DedupeFrom >= 0 {
				lp.scan = min(lp.scan, s.DedupeFrom)
				w.dedupe.dups = s.Duplicates
				w.dedupeFloor, w.replayMax, w.restoredMax = s.DedupeFrom, s.DedupeMax, s.DedupeMax
			}
		}
		if first.Offset > lp.scan {
			b.log.Warnf("Topic %s partition %d: the records from offset %d on are read again (rejected records that may not have reached the output, ids to remember), but the partition now starts at %d: those before it cannot be", topic, p, lp.scan, first.Offset)
			lp.scan = first.Offset
		}
		restored = append(restored, lp)
	}
	b.mu.Lock()
	for _, lp := range restored {
		b.assignSeq++
		lp.assignment = b.assignSeq
		b.install(lp)
		starts[lp.tp.Partition] = kafka.Start{Offset: lp.scan, Assignment: lp.assignment}
	}
	b.changed = true
	b.mu.Unlock()
	return starts, nil
}

func (b *salesAggregate) newAgg() *Aggregator {
	a := newAggregatorMax(b.maxProds)
	if b.win != nil {
		a.win = newPartWindows(b.win)
		a.dec.HashID = b.win.conf.dedupe
	}
	return a
}

func newAggregatorMax(n int) *Aggregator {
	a := NewAggregator()
	a.MaxProducts = n
	return a
}

// install makes lp the partition's live state. Called with mu.
func (b *salesAggregate) install(lp *livePart) {
	if lp.unacked == nil {
		lp.unacked = map[int64]int{}
	}
	lp.assignedAt = b.now()
	b.parts[lp.tp] = lp
	b.last = nil
	b.mOwned.Set(int64(b.ownedLocked()))
}

func (b *salesAggregate) ownedLocked() int {
	n := 0
	for _, lp := range b.parts {
		if lp.live {
			n++
		}
	}
	return n
}

// Revoke stops counting partitions. With a state topic their state is
// written once more, then shown from the state topic like any other; in
// memory their totals stay as they are.
func (b *salesAggregate) Revoke(topic string, partitions []int32) {
	b.mu.Lock()
	for _, p := range partitions {
		tp := TopicPartition{topic, p}
		lp := b.parts[tp]
		if lp == nil {
			continue
		}
		// In memory the totals of a revoked partition stay in the
		// snapshots (a member's totals are those of the partitions it
		// counted; the last snapshot, after the group is left at shutdown,
		// still has them) until the partition is assigned again. With a
		// state topic they are written once more, then shown from it.
		lp.live = false
	}
	b.last = nil
	b.changed = true
	b.urgent = true
	b.mOwned.Set(int64(b.ownedLocked()))
	b.mu.Unlock()
	wake(b.commitWake)
}

// PositionLost stops the process: the partition no longer has the records
// from where its state says to read on.
func (b *salesAggregate) PositionLost(topic string, partition int32, err error) {
	b.fatal(fmt.Errorf("topic %s partition %d no longer has the position its state in %s reads on from (%v): records were deleted (retention) before they were counted, or the topic was truncated or deleted and created again. To start the totals afresh: vendas-connect reset-state --brokers <brokers> --state-topic %s",
		topic, partition, b.stateTopic, err, b.stateTopic))
}

// TopicIDChanged stops the process: the topic was recreated under its name.
func (b *salesAggregate) TopicIDChanged(topic string, was, now [16]byte) {
	b.fatal(b.errTopicRecreated(topic, was, now))
}

// partFor returns the live state a record of tp read under assignment
// counts in, or nil when the record is stale. Called with mu.
func (b *salesAggregate) partFor(pos *kafka.Position) *livePart {
	tp := TopicPartition{pos.Topic, pos.Partition}
	lp := b.last
	if lp == nil || b.lastTP != tp {
		lp = b.parts[tp]
		if lp == nil && pos.Assignment == 0 && b.stateTopic == "" {
			// kafka_franz without a group: every partition from its start.
			lp = &livePart{tp: tp, topicID: pos.TopicID, agg: b.newAgg(), live: true, next: -1, scan: -1}
			b.install(lp)
		}
		b.last, b.lastTP = lp, tp
	}
	if lp == nil || !lp.live || lp.assignment != pos.Assignment {
		return nil
	}
	return lp
}

// WriteBatch counts a batch. In memory mode it acknowledges it at once; with
// a state topic the acknowledgement waits for the write that makes it durable.
func (b *salesAggregate) WriteBatch(ctx context.Context, batch service.MessageBatch, ackFn service.AckFunc) error {
	records := batchRecords(batch)
	b.mu.Lock()
	for b.stateTopic != "" && b.pendingN > 0 && b.pendingN+records > b.maxPending && !b.closed && b.failed == nil {
		// The input waits for room: the next write must not wait for
		// commit_period.
		b.urgent = true
		wake(b.commitWake)
		if err := b.waitLocked(ctx, b.committed); err != nil {
			return err
		}
	}
	for held := len(b.ready) + b.inflight; (held >= b.maxHeld || b.heldBytes >= b.maxHeldBytes) && !b.closed && b.failed == nil; held = len(b.ready) + b.inflight {
		if b.now().Sub(b.lastHeldLog) >= time.Minute {
			b.lastHeldLog = b.now()
			b.log.Errorf("%d rejected records (%d bytes) wait for the output (the DLQ) to take them: counting waits until some are delivered (this is logged at most once a minute)", held, b.heldBytes)
		}
		if err := b.waitLocked(ctx, b.drained); err != nil {
			return err
		}
	}
	if b.closed {
		b.mu.Unlock()
		return service.ErrNotConnected
	}
	if b.failed != nil {
		err := b.failed
		b.mu.Unlock()
		return err
	}

	var c batchCounts
	if b.win != nil {
		b.win.now = b.now().Unix()
	}
	for _, m := range batch {
		if bulk, intact, ok := kafka.BulkOf(m); ok {
			if !intact {
				err := errors.New("a message of records in bulk from kafka_franz reached sales_aggregate rewritten or failed: an input processor changed it or failed on it; set kafka_franz's bulk: false to run input processors on each record")
				b.mu.Unlock()
				b.fatal(err)
				return err
			}
			pos := bulk.Position
			for _, rec := range bulk.Records {
				pos.Offset = rec.Offset
				b.countLocked(&pos, rec.Value, nil, rec, &c)
			}
			continue
		}
		data, err := m.AsBytes()
		if err != nil {
			b.mu.Unlock()
			return err
		}
		pos, ok := kafka.PositionOf(m)
		if !ok {
			if b.stateTopic != "" {
				err := errors.New("a message without the Kafka position kafka_franz gives reached sales_aggregate: with a state topic only records read by kafka_franz can be counted (did a processor between them make new messages?)")
				b.mu.Unlock()
				b.fatal(err)
				return err
			}
			rec := Record{Data: data}
			switch out, err := b.mem.Apply(&rec); out {
			case Rejected:
				c.rejected++
				r := newRejected(m, data, err)
				b.live.noteRejected(r, b.now())
				b.holdLocked(r)
			case Duplicate:
				c.dupOrders++
			default:
				c.applied++
			}
			b.changed = true
			continue
		}
		b.countLocked(pos, data, m, nil, &c)
	}
	b.mApplied.Incr(c.applied)
	b.mRejected.Incr(c.rejected)
	b.mDuplicates.Incr(c.dups)
	b.mStale.Incr(c.stale)
	b.mDupOrders.Incr(c.dupOrders)

	if b.stateTopic == "" || (!c.durable && len(b.pendingAck) == 0 && !b.committing) {
		haveReady := len(b.ready) > 0
		b.mu.Unlock()
		if haveReady {
			wake(b.readerWake)
		}
		if err := ackFn(ctx, nil); err != nil {
			b.log.Warnf("Acknowledging an input batch: %v", err)
		}
		return nil
	}
	b.pendingAck = append(b.pendingAck, ackFn)
	b.pendingN += records
	b.mu.Unlock()
	wake(b.commitWake)
	return nil
}

// waitLocked waits, without mu, until ch is closed or ctx ends; it returns
// with mu held, or unlocked with ctx's error.
func (b *salesAggregate) waitLocked(ctx context.Context, ch chan struct{}) error {
	b.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	return nil
}

// batchCounts is what countLocked counted of a batch.
type batchCounts struct {
	applied, rejected, dups, stale int64
	dupOrders                      int64 // same id_ordem, with dedupe
	// durable: something was counted that the state topic must hold.
	durable bool
}

// countLocked counts the record at pos in its partition's state. m is the
// record's message, or nil for a record delivered in bulk (rec), whose
// message is made only if it is rejected.
func (b *salesAggregate) countLocked(pos *kafka.Position, data []byte, m *service.Message, rec *kgo.Record, c *batchCounts) {
	lp := b.partFor(pos)
	if lp == nil {
		c.stale++
		return
	}
	if pos.Offset < lp.next {
		if pos.Offset >= lp.scan {
			// Counted before the restore; its rejected record may
			// not have been delivered.
			lp.scan = pos.Offset + 1
			if err := lp.agg.Rejection(data, pos.Offset); err != nil && pos.Offset >= lp.dlqFloor {
				b.emitRejectedLocked(lp, pos, recordMessage(m, pos, rec), data, err)
			}
			lp.dirty, c.durable = true, true
		} else {
			c.dups++
		}
		return
	}
	r := Record{Data: data, Offset: pos.Offset}
	out, err := lp.agg.Apply(&r)
	lp.next = pos.Offset + 1
	lp.scan = lp.next
	lp.dirty, c.durable, b.changed = true, true, true
	switch out {
	case Rejected:
		c.rejected++
		b.emitRejectedLocked(lp, pos, recordMessage(m, pos, rec), data, err)
	case Duplicate:
		c.dupOrders++
	default:
		c.applied++
	}
}

// recordMessage is m, or the message kafka_franz makes for rec when it
// delivered rec in bulk.
func recordMessage(m *service.Message, pos *kafka.Position, rec *kgo.Record) *service.Message {
	if m != nil {
		return m
	}
	return kafka.RecordMessage(*pos, rec)
}

// batchRecords is how many records a batch holds, bulk messages counted by
// their records.
func batchRecords(batch service.MessageBatch) int {
	n := 0
	for _, m := range batch {
		if bulk, _, ok := kafka.BulkOf(m); ok {
			n += len(bulk.Records)
		} else {
			n++
		}
	}
	return n
}

// TakesBulk tells kafka_franz to deliver records in bulk (kafka.BulkOf).
func (b *salesAggregate) TakesBulk() bool { return true }

// emitRejectedLocked queues a rejected record of a partition for the output
// and remembers it until it is delivered.
func (b *salesAggregate) emitRejectedLocked(lp *livePart, pos *kafka.Position, m *service.Message, data []byte, err error) {
	r := newRejected(m, data, err)
	r.tp, r.assignment, r.offset, r.hasPos = lp.tp, lp.assignment, pos.Offset, true
	lp.unacked[pos.Offset]++
	b.live.noteRejected(r, b.now())
	b.holdLocked(r)
}

// maxHeldRejected is max_rejected_held's default: rejected records held for
// the output at most before WriteBatch waits for it to take some.
const maxHeldRejected = 100_000

// heldLimitsFrom reads max_rejected_held and max_rejected_held_bytes.
func heldLimitsFrom(conf *service.ParsedConfig) (records, size int, err error) {
	if records, err = conf.FieldInt(fieldMaxHeld); err != nil {
		return 0, 0, err
	}
	if records < 1 {
		return 0, 0, fmt.Errorf("field %s: %d is below 1", fieldMaxHeld, records)
	}
	s, err := conf.FieldString(fieldMaxHeldB)
	if err != nil {
		return 0, 0, err
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, 0, fmt.Errorf("field %s: %q is not a size such as 32MiB or 500KB: %w", fieldMaxHeldB, s, err)
	}
	if n < 1 || n > 1<<40 {
		return 0, 0, fmt.Errorf("field %s: %q is not from 1B to 1TiB", fieldMaxHeldB, s)
	}
	return records, int(n), nil
}

// holdLocked queues r for the output.
func (b *salesAggregate) holdLocked(r *rejectedRecord) {
	b.ready = append(b.ready, r)
	b.heldBytes += r.size()
}

// commitLoop writes what WriteBatch counted, one write at a time; whatever
// arrives during a write goes in the next one (group commit).
func (b *salesAggregate) commitLoop() {
	defer close(b.commitDone)
	<-b.clReady
	for {
		select {
		case <-b.commitWake:
		case <-b.stopCommit:
			b.mu.Lock()
			crash := b.crash
			b.mu.Unlock()
			if !crash && b.cl != nil {
				for did, _ := b.commitOnce(); did; did, _ = b.commitOnce() {
				}
			}
			return
		}
		if b.cl == nil {
			continue
		}
		for {
			start := time.Now()
			did, wrote := b.commitOnce()
			if !did {
				break
			}
			if wrote {
				b.pace(start)
			}
		}
	}
}

// paceDue is how many records waiting for a state write make it start
// without waiting for commit_period: half of max_pending, or of the input's
// checkpoint_limit when that is lower. The input hands over no more of a
// partition with checkpoint_limit records unacknowledged, so waiting for
// more than that would hold every write for the whole period.
func paceDue(maxPending int, input *kafka.InputInfo) int {
	due := (maxPending + 1) / 2
	if input != nil && input.CheckpointLimit > 0 {
		due = min(due, (input.CheckpointLimit+1)/2)
	}
	return due
}

// pace waits, after a write that started at start, until commit_period has
// passed since then, so that a fast input makes fewer, larger writes: each
// costs the broker CPU, on cores it may share with the consumer. It returns
// sooner once paceDue records wait for a write, when a write is urgent (the
// input waits for room, a partition was revoked, a state must be written
// again over another member's), when the input ends and when the buffer
// stops (endCh and stopCommit, closed for good).
func (b *salesAggregate) pace(start time.Time) {
	wait := b.commitPeriod - time.Since(start)
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		due := b.urgent || b.pendingN >= b.paceDue
		b.mu.Unlock()
		if due {
			return
		}
		select {
		case <-timer.C:
			return
		case <-b.commitWake:
		case <-b.endCh:
			return
		case <-b.stopCommit:
			return
		}
	}
}

// commitOnce writes the state of every partition changed since its last
// write and acknowledges the input batches it covers; it reports whether
// there was anything to do (did: go on) and whether it wrote to the state
// topic (wrote: batches that counted nothing new are only acknowledged).
func (b *salesAggregate) commitOnce() (did, wrote bool) {
	b.mu.Lock()
	states := b.states[:0]
	for tp, lp := range b.parts {
		if !lp.live {
			if stored := b.cl.state(tp); stored != nil && stored.Next >= lp.next && stored.TopicID == lp.topicID {
				// Revoked, and the state topic shows at least as much:
				// the snapshots show it from there.
				delete(b.parts, tp)
				continue
			}
		}
		if !lp.dirty {
			continue
		}
		lp.dirty = false
		s := &partitionState{
			Topic: tp.Topic, TopicID: lp.topicID, Partition: tp.Partition,
			Next: lp.next, DLQFrom: lp.dlqFrom(),
			Orders: lp.agg.orders, Rejected: lp.agg.rejected,
			Products: make([]ProductTotals, len(lp.agg.products)),
			Since:    make([]int64, len(lp.agg.products)),
			Writer:   b.member, WrittenAt: b.now(),
		}
		for i := range lp.agg.products {
			s.Products[i] = lp.agg.products[i].ProductTotals
			s.Since[i] = lp.agg.products[i].since
		}
		if w := lp.agg.win; w != nil {
			s.WindowSpec, s.MaxEvent, s.Closed = b.win.conf.String(), w.maxEvent, b.win.closed
			s.DedupeFrom, s.DedupeMax = -1, noTime
			keepFrom := s.DLQFrom // offsets read again after a restore
			if d := w.dedupe; d != nil {
				s.DedupeFrom, s.DedupeMax = d.from(lp.next, w.maxEvent)
				s.Duplicates = d.dups
				if lp.scan < lp.next && w.dedupeFloor >= 0 && w.dedupeFloor < s.DedupeFrom {
					// Still reading again what the restore must remember.
					s.DedupeFrom, s.DedupeMax = w.dedupeFloor, w.restoredMax
				}
				keepFrom = min(keepFrom, s.DedupeFrom)
			}
			s.Windows, s.Marks = w.windowsState(), b.win.marks()
			for off := range w.tooOld {
				if off < keepFrom {
					delete(w.tooOld, off) // delivered, and not read again
				} else {
					s.TooOld = append(s.TooOld, off)
				}
			}
			slices.Sort(s.TooOld)
		}
		states = append(states, s)
	}
	b.states = states
	if b.crash || b.failed != nil || (len(states) == 0 && len(b.pendingAck) == 0) {
		b.mu.Unlock()
		return false, false
	}
	acks := b.pendingAck
	b.pendingAck = nil
	n := b.pendingN
	b.committing = true
	b.urgent = false
	b.mu.Unlock()

	var err error
	if len(states) > 0 {
		start := time.Now()
		err = b.cl.write(context.Background(), states)
		b.mCommit.Timing(time.Since(start).Nanoseconds())
	}

	b.mu.Lock()
	b.committing = false
	b.pendingN -= n
	close(b.committed)
	b.committed = make(chan struct{})
	b.mu.Unlock()
	if err != nil {
		// franz-go retries what can be retried without a deadline: this
		// will not pass by itself. The state on the broker stays exact.
		b.fatal(fmt.Errorf("%w; the totals on the broker stay exact, and a restart continues from them", err))
	}
	for _, fn := range acks {
		if aerr := fn(context.Background(), err); aerr != nil {
			b.log.Warnf("Acknowledging an input batch: %v", aerr)
		}
	}
	wake(b.readerWake)
	return err == nil, err == nil && len(states) > 0
}

// ReadBatch returns, in order of priority: rejected records, the final
// snapshot once the input ended and everything is written, or a periodic
// snapshot when the interval ticked and something changed.
func (b *salesAggregate) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	ticked := false
	for {
		b.mu.Lock()
		var retry *time.Timer
		var retryC <-chan time.Time
		if len(b.ready) > 0 {
			wait := b.retryAt.Sub(b.now())
			if wait <= 0 {
				return b.emitReadyLocked()
			}
			retry = time.NewTimer(wait)
			retryC = retry.C
		}
		settled := b.endOfInput && len(b.pendingAck) == 0 && !b.committing && len(b.ready) == 0
		if settled && b.final == finalNone {
			b.final = finalInFlight
			if b.win != nil {
				batch, ack, _ := b.emitWithWindowsLocked(true)
				return batch, ack, nil
			}
			return b.emitSnapshotLocked(ModeComplete, true)
		}
		if settled && b.final == finalDelivered && b.inflight == 0 {
			b.mu.Unlock()
			return nil, nil, service.ErrEndOfBuffer
		}
		if ticked && !b.endOfInput && (b.changed || b.win != nil) {
			if b.win == nil {
				return b.emitSnapshotLocked(b.mode, false)
			}
			if batch, ack, ok := b.emitWithWindowsLocked(false); ok {
				return batch, ack, nil
			}
			b.mu.Lock()
		}
		ticked = false
		endCh := b.endCh
		if b.endOfInput {
			endCh = nil
		}
		b.mu.Unlock()

		select {
		case <-b.readerWake:
		case <-retryC:
		case <-b.tickC:
			ticked = true
		case <-endCh:
		case <-ctx.Done():
		}
		if retry != nil {
			retry.Stop()
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
}

// emitReadyLocked returns up to maxRejectedPerBatch rejected records and
// unlocks mu. Their acknowledgement lets the stored state move past them; a
// failed delivery puts them back in line after a back-off.
func (b *salesAggregate) emitReadyLocked() (service.MessageBatch, service.AckFunc, error) {
	n := min(len(b.ready), maxRejectedPerBatch)
	recs := make([]*rejectedRecord, n)
	copy(recs, b.ready)
	b.ready = append(b.ready[:0], b.ready[n:]...)
	b.inflight += n
	b.mu.Unlock()

	batch := make(service.MessageBatch, n)
	for i, r := range recs {
		batch[i] = r.message()
	}
	return batch, func(_ context.Context, err error) error {
		b.mu.Lock()
		b.inflight -= n
		if err != nil {
			b.retries++
			wait := min(rejectRetryFirst<<min(b.retries-1, 10), rejectRetryMax)
			b.retryAt = b.now().Add(wait)
			if b.now().Sub(b.lastRetryLog) >= time.Minute {
				b.lastRetryLog = b.now()
				b.log.Errorf("Delivering %d rejected records failed, emitting them again in %v (attempt %d; this error is logged at most once a minute): %v", n, wait, b.retries, err)
			}
			b.ready = append(recs, b.ready...)
		} else {
			b.retries = 0
			b.retryAt = time.Time{}
			for _, r := range recs {
				b.deliveredLocked(r)
				b.heldBytes -= r.size()
			}
			close(b.drained) // releases a WriteBatch waiting for room
			b.drained = make(chan struct{})
		}
		b.mu.Unlock()
		if err == nil && b.stateTopic != "" {
			wake(b.commitWake)
		}
		wake(b.readerWake)
		return nil
	}, nil
}

// deliveredLocked forgets a delivered rejected record, so the stored state
// can move past it.
func (b *salesAggregate) deliveredLocked(r *rejectedRecord) {
	if !r.hasPos {
		return
	}
	lp := b.parts[r.tp]
	if lp == nil || lp.assignment != r.assignment {
		return
	}
	if lp.unacked[r.offset]--; lp.unacked[r.offset] <= 0 {
		delete(lp.unacked, r.offset)
	}
	lp.dirty = true
}

// emitSnapshotLocked takes a snapshot and unlocks mu.
func (b *salesAggregate) emitSnapshotLocked(mode Mode, final bool) (service.MessageBatch, service.AckFunc, error) {
	now := b.now()
	b.snapBuf = b.appendSnapshotLocked(b.snapBuf[:0], mode, now)
	b.publishLiveLocked(b.snapBuf, mode, now)
	b.changed = false
	msg := service.NewMessage(append([]byte(nil), b.snapBuf...))
	b.mu.Unlock()
	msg.MetaSetMut(MetaSnapshot, "true")
	b.mSnapshots.Incr(1)
	return service.MessageBatch{msg}, func(_ context.Context, err error) error {
		if !final {
			if err != nil {
				b.log.Warnf("A sales snapshot was not delivered, the next one supersedes it: %v", err)
			}
			return nil
		}
		b.mu.Lock()
		if err != nil {
			b.log.Warnf("The final sales snapshot was not delivered, emitting it again: %v", err)
			b.final = finalNone
		} else {
			b.final = finalDelivered
		}
		b.mu.Unlock()
		wake(b.readerWake)
		return nil
	}, nil
}

// EndOfInput starts the end: write what is pending, emit the last rejected
// records and a final complete snapshot, then ErrEndOfBuffer.
func (b *salesAggregate) EndOfInput() {
	b.endOnce.Do(func() {
		b.mu.Lock()
		b.endOfInput = true
		b.mu.Unlock()
		close(b.endCh)
	})
}

// Close writes what is pending and closes the state topic's client.
func (b *salesAggregate) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.committed) // releases writers waiting for room
	b.committed = make(chan struct{})
	close(b.drained)
	b.drained = make(chan struct{})
	b.mu.Unlock()
	b.live.close() // ends the SSE streams
	b.stopTicker()
	if b.stateTopic == "" {
		return nil
	}
	close(b.stopCommit)
	select {
	case <-b.commitDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	acks := b.pendingAck
	b.pendingAck = nil
	b.mu.Unlock()
	// Whatever could not be written is nacked, to be read again.
	for _, fn := range acks {
		_ = fn(ctx, service.ErrNotConnected)
	}
	<-b.clReady
	if b.cl != nil {
		b.cl.close()
	}
	return nil
}

// rejectedRecord is an invalid record on its way to the output: its original
// bytes and metadata, the reason, and where it was read.
type rejectedRecord struct {
	data   []byte
	meta   []metaPair
	reason string

	hasPos     bool
	tp         TopicPartition
	assignment uint64
	offset     int64
}

type metaPair struct{ key, value string }

// size is about what r takes in memory.
func (r *rejectedRecord) size() int {
	n := len(r.data) + len(r.reason) + 64
	for _, m := range r.meta {
		n += len(m.key) + len(m.value) + 32
	}
	return n
}

func newRejected(m *service.Message, data []byte, err error) *rejectedRecord {
	r := &rejectedRecord{data: append([]byte(nil), data...), reason: err.Error()}
	_ = m.MetaWalk(func(k, v string) error {
		if k != MetaRejectedReason {
			r.meta = append(r.meta, metaPair{k, v})
		}
		return nil
	})
	return r
}

func (r *rejectedRecord) message() *service.Message {
	m := service.NewMessage(r.data)
	for _, kv := range r.meta {
		m.MetaSetMut(kv.key, kv.value)
	}
	m.MetaSetMut(MetaRejectedReason, r.reason)
	return m
}
