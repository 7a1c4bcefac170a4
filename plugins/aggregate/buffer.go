package aggregate

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Field names of sales_aggregate.
const (
	fieldMode       = "mode"
	fieldInterval   = "interval"
	fieldStateDir   = "state_dir"
	fieldTopics     = "topics"
	fieldStateID    = "state_id"
	fieldMaxPending = "max_pending"
)

// Metadata keys set on the messages sales_aggregate emits, and read from the
// messages it receives.
const (
	// MetaSnapshot is "true" on snapshot messages.
	MetaSnapshot = "sales_snapshot"
	// MetaRejectedReason is on rejected records: why the record is not a
	// valid order, naming the field (produtos[1].quantidade: ...).
	MetaRejectedReason = "sales_rejected_reason"

	MetaKafkaTopic     = "kafka_topic"
	MetaKafkaPartition = "kafka_partition"
	MetaKafkaOffset    = "kafka_offset"
)

// maxRejectedPerBatch bounds how many rejected records one ReadBatch returns.
const maxRejectedPerBatch = 64

func aggregateSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Windowing").
		Summary("Totals sales orders per product (units, orders, value in centavos) and emits snapshots of the totals, exactly once across restarts when given a state directory.").
		Description(`
Each message must be an order as fixed by CONTRACT.md. It is decoded strictly; a valid order adds to the totals of every product it contains: `+"`quantidade`"+` (units), `+"`pedidos`"+` (orders containing the product) and `+"`valor_total`"+` (exact, in centavos). Memory grows with the number of products, not of orders.

== Why a buffer

A processor only runs when a message arrives and must answer for that message: it cannot emit on a timer, cannot emit when the input ends, and cannot keep a message's acknowledgement until the totals it changed are on disk. A buffer sits between the input and the pipeline and can do all three, so the aggregation is a buffer. The pipeline and the outputs then see only what this buffer emits: snapshots and rejected records.

== Snapshots

A snapshot is one message of JSON, with metadata `+"`"+MetaSnapshot+`: true`+"`"+`:

`+"```json"+`
{"pedidos":3,"rejeitados":1,"valor_total":7499.80,"produtos":[{"produto":"Notebook","quantidade":2,"pedidos":2,"valor_total":6999.80},{"produto":"Mouse","quantidade":5,"pedidos":1,"valor_total":500.00}],"modo":"complete","offsets":{"vendas_ecommerce":{"0":3}},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":7}
`+"```"+`

Money always has two decimals and is never rounded through a float. In `+"`complete`"+` mode every product is listed, by value descending then by name; in `+"`update`"+` mode only the products changed since the previous snapshot (counts, the grand total and offsets are always complete). `+"`offsets`"+` holds, per topic and partition, the last offset in the totals.

A snapshot is emitted every `+"`interval`"+` if anything was applied or rejected since the previous one (a quiet stream prints nothing), and once more when the input ends: that last one is always `+"`complete`"+` and covers every order read. A snapshot covers every record written to the buffer so far; with `+"`state_dir`"+` the latest of them may still be committing to disk, and if the process dies before that they are read again from Kafka and counted once.

== Rejected records

A record that is not a valid order (not JSON, a field missing or of the wrong type, `+"`quantidade`"+` below 1, `+"`preco_unitario`"+` not above 0, `+"`valor_total`"+` not the sum of the products, a bad date, an invalid CPF) never touches the totals. It is counted in `+"`rejeitados`"+` and emitted as its own message: the original bytes, the original metadata, plus `+"`"+MetaRejectedReason+"`"+` naming the field and the problem. Route it with a `+"`switch`"+` output (see the examples). A rejected record that is not acknowledged downstream is emitted again.

== Delivery guarantees

Without `+"`state_dir`"+` nothing is durable: input messages are acknowledged as soon as they are counted, and after a restart the totals start from zero, so the input must read the topic from the beginning with no consumer group commits (`+"`kafka_franz`"+` without `+"`consumer_group`"+`).

With `+"`state_dir`"+` the totals, the counts, the last applied offset of every topic partition and the rejected records not yet delivered are kept in a bbolt file, `+"`"+StateFileName+"`"+`. Input messages are acknowledged only after the transaction holding their effects is fsynced, so a consumer group never commits an offset whose orders could be lost. Records redelivered after a crash or a rebalance sit at or below the stored offset of their partition and are skipped, so no order is counted twice. Messages without `+"`"+MetaKafkaOffset+"`"+` metadata are counted without that protection. Rejected records enter an outbox in the same transaction and leave it when their delivery is acknowledged; on start the outbox is emitted again (at-least-once to the dead-letter output). If a commit fails (disk full, I/O error) its batches are rejected and the buffer stops counting, refusing every later batch with the error, because records redelivered out of order could no longer be told from duplicates; the state on disk stays exact and restarting the stream continues from it. Commits are grouped: while one transaction is being fsynced the following batches are counted in memory and go in the next one, so throughput holds even when the input delivers small batches. Since input messages stay unacknowledged for about one commit (a few milliseconds to tens of milliseconds on a disk), the input must allow enough messages in flight: with `+"`kafka_franz`"+` set `+"`checkpoint_limit`"+` to at least the expected rate × the commit latency (watch `+"`sales_commit_latency_ns`"+`), and batch per partition (a few thousand records) to keep the per-message cost low.

A state is tied to its `+"`topics`"+`, its `+"`state_id`"+` and its format version; a state written for anything else is refused at start with an error naming the directory and the difference, never mixed. A message from a topic outside `+"`topics`"+` is refused (the batch is rejected and the input retries it), which stops the stream loudly rather than mixing totals.

== Metrics

`+"`sales_orders_applied`, `sales_records_rejected`, `sales_duplicates_skipped`, `sales_snapshots_emitted`"+` (counters), `+"`sales_products`"+` (gauge) and, with `+"`state_dir`"+`, `+"`sales_commit_latency_ns`"+` (timer).
`).
		Fields(
			service.NewStringEnumField(fieldMode, modeComplete, modeUpdate).
				Description("Which products a periodic snapshot lists: `complete` every product, `update` only those changed since the previous snapshot. The snapshot at the end of the input is always complete.").
				Default(modeComplete).
				Example(modeUpdate),
			service.NewDurationField(fieldInterval).
				Description("How often a snapshot is emitted, when something changed since the previous one. `0s` emits only when the input ends.").
				Default("2s").
				Example("500ms").Example("0s"),
			service.NewStringField(fieldStateDir).
				Description("Directory of the durable state. Empty keeps the totals in memory only: the input must then read its topics from the beginning on every start.").
				Default("").
				Example("/var/lib/vendas-connect/sales"),
			service.NewStringListField(fieldTopics).
				Description("The Kafka topics the totals are built from. Required with `state_dir`: the state records them and refuses to be reused for other topics. Messages whose `kafka_topic` is not listed are refused. Empty accepts any topic.").
				Default([]any{}).
				Example([]string{"vendas_ecommerce"}),
			service.NewStringField(fieldStateID).
				Description("An optional name stored with the state; a state with another name is refused. Use it to keep, say, a test run from reusing a production directory.").
				Default("").
				Example("vendas-prod").
				Advanced(),
			service.NewIntField(fieldMaxPending).
				Description("With `state_dir`, the most records counted in memory but not yet committed to disk; the input waits while this many are pending. Higher absorbs slower disks, lower bounds what is read again after a crash.").
				Default(65536).
				Example(4096).
				Advanced(),
		).
		LintRule(`root = if this.state_dir.or("") != "" && this.topics.or([]).length() == 0 { ["field topics: must list the Kafka topics read when state_dir is set, the state is tied to them"] }`).
		Example("Totals from Kafka to stdout, rejected records to a dead-letter topic",
			"Counts every order exactly once across restarts, prints a table every two seconds and sends invalid records to `vendas_ecommerce_dlq` with the reason as a header.",
			`
input:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topics: [ "${KAFKA_TOPIC:vendas_ecommerce}" ]
    consumer_group: vendas-aggregate
    checkpoint_limit: 16384 # messages wait for the state commit before their ack
    batching:
      count: 4096
      period: 50ms

buffer:
  sales_aggregate:
    interval: 2s
    state_dir: "${STATE_DIR:./state}"
    topics: [ "${KAFKA_TOPIC:vendas_ecommerce}" ]

pipeline:
  threads: 1
  processors:
    - sales_report:
        format: "${OUTPUT_FORMAT:table}"

output:
  switch:
    cases:
      - check: '@`+MetaRejectedReason+` != null'
        output:
          kafka_franz:
            seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
            topic: "${KAFKA_TOPIC:vendas_ecommerce}_dlq"
            metadata:
              include_patterns: [ "`+MetaRejectedReason+`" ]
      - output:
          stdout: {}
`).
		Example("Totals of a file, in memory",
			"Reads orders one per line and prints the final totals as JSON when the file ends.",
			`
input:
  file:
    paths: [ ./orders.jsonl ]
    scanner:
      lines: {}

buffer:
  sales_aggregate:
    interval: 0s

output:
  stdout: {}
`)
}

func init() {
	err := service.RegisterBatchBuffer("sales_aggregate", aggregateSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchBuffer, error) {
			return newSalesAggregateFromConfig(conf, mgr)
		})
	if err != nil {
		panic(err)
	}
}

// salesAggregate is the sales_aggregate buffer. WriteBatch (the input side)
// and ReadBatch (the output side) run on different goroutines; with a state
// directory a third one, commitLoop, writes to disk. mu guards everything
// below it.
type salesAggregate struct {
	log        *service.Logger
	mode       Mode
	interval   time.Duration
	topics     map[string]struct{} // nil accepts any topic
	maxPending int
	now        func() time.Time

	mApplied    *service.MetricCounter
	mRejected   *service.MetricCounter
	mDuplicates *service.MetricCounter
	mSnapshots  *service.MetricCounter
	mProducts   *service.MetricGauge
	mCommit     *service.MetricTimer

	ticker *time.Ticker
	tickC  <-chan time.Time

	readerWake chan struct{} // cap 1: something for ReadBatch
	commitWake chan struct{} // cap 1: something for commitLoop
	endCh      chan struct{} // closed by EndOfInput
	endOnce    sync.Once
	stopCommit chan struct{}
	commitDone chan struct{} // closed when commitLoop returns

	mu   sync.Mutex
	agg  *Aggregator
	st   *store // nil in memory mode
	recs []Record

	// With a store: batches counted in memory and not yet committed.
	pendingAcks    []service.AckFunc
	pendingCount   int // records not yet durable, including the commit in progress
	pendingRejects []*rejectedRecord
	pendingDeletes []uint64
	committing     bool
	commits        int64
	committed      chan struct{} // closed and replaced after each commit
	nextOutboxID   uint64
	delta          commitDelta // owned by commitLoop while committing
	failed         error       // the store can no longer be trusted
	crash          bool        // tests: stop without committing

	ready    []*rejectedRecord // rejected records to emit
	inflight int               // rejected records emitted, not yet acknowledged

	endOfInput bool
	final      finalState
	closed     bool
	snapBuf    []byte
}

var _ service.BatchBuffer = (*salesAggregate)(nil)

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
	topics, err := conf.FieldStringList(fieldTopics)
	if err != nil {
		return nil, err
	}
	stateID, err := conf.FieldString(fieldStateID)
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
	if stateDir != "" && len(topics) == 0 {
		return nil, fmt.Errorf("field %s: must list the Kafka topics read when %s is set, the state is tied to them", fieldTopics, fieldStateDir)
	}
	for _, t := range topics {
		if t == "" {
			return nil, fmt.Errorf("field %s: empty topic name", fieldTopics)
		}
	}

	b := &salesAggregate{
		log:         mgr.Logger(),
		mode:        mode,
		interval:    interval,
		maxPending:  maxPending,
		now:         time.Now,
		mApplied:    mgr.Metrics().NewCounter("sales_orders_applied"),
		mRejected:   mgr.Metrics().NewCounter("sales_records_rejected"),
		mDuplicates: mgr.Metrics().NewCounter("sales_duplicates_skipped"),
		mSnapshots:  mgr.Metrics().NewCounter("sales_snapshots_emitted"),
		mProducts:   mgr.Metrics().NewGauge("sales_products"),
		mCommit:     mgr.Metrics().NewTimer("sales_commit_latency_ns"),
		readerWake:  make(chan struct{}, 1),
		commitWake:  make(chan struct{}, 1),
		endCh:       make(chan struct{}),
		stopCommit:  make(chan struct{}),
		commitDone:  make(chan struct{}),
		committed:   make(chan struct{}),
		agg:         NewAggregator(),
	}
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
	if stateDir == "" {
		close(b.commitDone)
		return b, nil
	}
	st, loaded, err := openStore(stateDir, topics, stateID)
	if err != nil {
		b.stopTicker()
		return nil, err
	}
	b.st = st
	b.agg.restore(loaded)
	b.ready = loaded.outbox
	b.nextOutboxID = max(loaded.nextOutboxID, 1)
	b.mProducts.Set(int64(b.agg.Products()))
	if len(loaded.outbox) > 0 || loaded.orders > 0 || loaded.rejected > 0 {
		b.log.Infof("Loaded sales state from %s: %d orders, %d rejected, %d products, %d partitions, %d rejected records to re-emit",
			stateDir, loaded.orders, loaded.rejected, len(loaded.products), len(loaded.offsets), len(loaded.outbox))
	}
	go b.commitLoop()
	return b, nil
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

// recordOf reads a message's bytes and Kafka position. The position is
// optional; when kafka_offset is there, topic and partition must be too.
func recordOf(m *service.Message, rec *Record) error {
	data, err := m.AsBytes()
	if err != nil {
		return err
	}
	*rec = Record{Data: data}
	offV, ok := m.MetaGetImmut(MetaKafkaOffset)
	if !ok {
		return nil
	}
	if rec.Offset, err = metaInt(offV); err != nil {
		return fmt.Errorf("metadata %s: %w", MetaKafkaOffset, err)
	}
	partV, ok := m.MetaGetImmut(MetaKafkaPartition)
	if !ok {
		return fmt.Errorf("metadata %s is set but %s is missing", MetaKafkaOffset, MetaKafkaPartition)
	}
	part, err := metaInt(partV)
	if err != nil || part < 0 || part > 1<<31-1 {
		return fmt.Errorf("metadata %s: %v is not a partition number", MetaKafkaPartition, partV)
	}
	topicV, ok := m.MetaGetImmut(MetaKafkaTopic)
	topic, isStr := topicV.(string)
	if !ok || !isStr || topic == "" {
		return fmt.Errorf("metadata %s is set but %s is missing or not a string", MetaKafkaOffset, MetaKafkaTopic)
	}
	rec.Topic, rec.Partition, rec.HasOffset = topic, int32(part), true
	return nil
}

// metaInt reads an integer kept in metadata: kafka_franz stores ints, other
// inputs and tests strings.
func metaInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", x)
		}
		return n, nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
	}
	return 0, fmt.Errorf("%v (%T) is not an integer", v, v)
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

// WriteBatch counts a batch. In memory mode it acknowledges it at once; with
// a store the acknowledgement waits for the commit that makes it durable.
func (b *salesAggregate) WriteBatch(ctx context.Context, batch service.MessageBatch, ackFn service.AckFunc) error {
	b.mu.Lock()
	for b.st != nil && b.pendingCount > 0 && b.pendingCount+len(batch) > b.maxPending && !b.closed {
		ch := b.committed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		b.mu.Lock()
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

	// Read every position first: a batch is counted whole or not at all.
	recs := b.recs[:0]
	for i, m := range batch {
		recs = append(recs, Record{})
		if err := recordOf(m, &recs[i]); err != nil {
			b.recs = recs
			b.mu.Unlock()
			b.log.Errorf("Refusing an input batch: message %d: %v", i, err)
			return fmt.Errorf("message %d: %w", i, err)
		}
		if b.topics != nil && recs[i].HasOffset {
			if _, ok := b.topics[recs[i].Topic]; !ok {
				b.recs = recs
				b.mu.Unlock()
				b.log.Errorf("Refusing a message from topic %q: field %s lists only the topics this state is built from", recs[i].Topic, fieldTopics)
				return fmt.Errorf("message %d: topic %q is not in field %s", i, recs[i].Topic, fieldTopics)
			}
		}
	}

	var applied, rejected, dups int64
	for i := range recs {
		out, err := b.agg.Apply(&recs[i])
		switch out {
		case Applied:
			applied++
		case Duplicate:
			dups++
		case Rejected:
			rejected++
			r := newRejected(batch[i], recs[i].Data, err)
			if b.st != nil {
				r.id = b.nextOutboxID
				b.nextOutboxID++
				b.pendingRejects = append(b.pendingRejects, r)
			} else {
				b.ready = append(b.ready, r)
			}
		}
		recs[i].Data = nil
	}
	b.recs = recs
	b.mApplied.Incr(applied)
	b.mRejected.Incr(rejected)
	b.mDuplicates.Incr(dups)
	b.mProducts.Set(int64(b.agg.Products()))

	if b.st == nil || (applied+rejected == 0 && len(b.pendingAcks) == 0 && !b.committing) {
		// Nothing to make durable (memory mode, or only duplicates of
		// records already on disk).
		b.mu.Unlock()
		if rejected > 0 {
			wake(b.readerWake)
		}
		if err := ackFn(ctx, nil); err != nil {
			b.log.Warnf("Acknowledging an input batch: %v", err)
		}
		return nil
	}
	b.pendingAcks = append(b.pendingAcks, ackFn)
	b.pendingCount += len(batch)
	b.mu.Unlock()
	wake(b.commitWake)
	return nil
}

// commitLoop writes what WriteBatch counted, one transaction at a time;
// whatever arrives during a commit goes in the next one (group commit).
func (b *salesAggregate) commitLoop() {
	defer close(b.commitDone)
	for {
		select {
		case <-b.commitWake:
		case <-b.stopCommit:
			b.mu.Lock()
			crash := b.crash
			b.mu.Unlock()
			if !crash {
				for b.commitOnce() {
				}
			}
			return
		}
		for b.commitOnce() {
		}
	}
}

// commitOnce commits everything pending and reports whether there was
// anything to commit.
func (b *salesAggregate) commitOnce() bool {
	b.mu.Lock()
	if b.crash || b.failed != nil || (len(b.pendingAcks) == 0 && len(b.pendingDeletes) == 0 && len(b.pendingRejects) == 0) {
		b.mu.Unlock()
		return false
	}
	d := &b.delta
	d.reset()
	b.agg.takeCommitDelta(d)
	d.outbox = append(d.outbox, b.pendingRejects...)
	clear(b.pendingRejects)
	b.pendingRejects = b.pendingRejects[:0]
	d.deletes = append(d.deletes, b.pendingDeletes...)
	b.pendingDeletes = b.pendingDeletes[:0]
	acks := b.pendingAcks
	b.pendingAcks = nil
	n := b.pendingCount
	b.committing = true
	b.mu.Unlock()

	var err error
	if !d.empty() {
		start := time.Now()
		err = b.st.commit(d)
		b.mCommit.Timing(time.Since(start).Nanoseconds())
	}

	b.mu.Lock()
	b.committing = false
	if err != nil {
		// Records nacked now may come back after later ones of the same
		// partition were counted, which offsets alone cannot tell from a
		// duplicate. So stop counting: the state on disk stays exact and a
		// restart continues from it.
		err = fmt.Errorf("committing sales state: %w", err)
		b.failed = fmt.Errorf("%w; nothing more is counted, restart the stream to continue from the state on disk", err)
		b.log.Errorf("%v", b.failed)
		acks = append(acks, b.pendingAcks...)
		b.pendingAcks = nil
		clear(b.pendingRejects)
		b.pendingRejects = b.pendingRejects[:0]
		b.pendingCount = 0
		b.rollback()
	} else {
		b.ready = append(b.ready, d.outbox...)
		b.pendingCount -= n
		b.commits++
	}
	close(b.committed)
	b.committed = make(chan struct{})
	b.mu.Unlock()

	for _, fn := range acks {
		if aerr := fn(context.Background(), err); aerr != nil {
			b.log.Warnf("Acknowledging an input batch: %v", aerr)
		}
	}
	// The reader may be waiting for everything to settle after the input
	// ended, or for rejected records that are now durable.
	wake(b.readerWake)
	return err == nil
}

// rollback puts the totals back to what is on disk after a failed commit, so
// that snapshots show only durable totals. Called with mu.
func (b *salesAggregate) rollback() {
	loaded, err := b.st.reload()
	if err != nil {
		b.log.Errorf("Reading the sales state back after a failed commit: %v", err)
		return
	}
	agg := NewAggregator()
	agg.restore(loaded)
	agg.seq = b.agg.seq
	b.agg = agg
	b.mProducts.Set(int64(agg.Products()))
}

// ReadBatch returns, in order of priority: rejected records, the final
// snapshot once the input ended and everything is committed, or a periodic
// snapshot when the interval ticked and something changed.
func (b *salesAggregate) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	ticked := false
	for {
		b.mu.Lock()
		if len(b.ready) > 0 {
			return b.emitRejectedLocked()
		}
		settled := b.endOfInput && len(b.pendingAcks) == 0 && len(b.pendingRejects) == 0 && !b.committing
		if settled && b.final == finalNone {
			b.final = finalInFlight
			return b.emitSnapshotLocked(ModeComplete, true)
		}
		if settled && b.final == finalDelivered && b.inflight == 0 {
			b.mu.Unlock()
			return nil, nil, service.ErrEndOfBuffer
		}
		if ticked && !b.endOfInput && b.agg.Changed() {
			return b.emitSnapshotLocked(b.mode, false)
		}
		ticked = false
		endCh := b.endCh
		if b.endOfInput {
			endCh = nil
		}
		b.mu.Unlock()

		select {
		case <-b.readerWake:
		case <-b.tickC:
			ticked = true
		case <-endCh:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// emitRejectedLocked returns up to maxRejectedPerBatch rejected records and
// unlocks mu. Their acknowledgement removes them from the outbox; a failed
// delivery puts them back in line.
func (b *salesAggregate) emitRejectedLocked() (service.MessageBatch, service.AckFunc, error) {
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
			b.log.Warnf("Delivering %d rejected records failed, emitting them again: %v", n, err)
			b.ready = append(recs, b.ready...)
		} else if b.st != nil {
			for _, r := range recs {
				b.pendingDeletes = append(b.pendingDeletes, r.id)
			}
		}
		b.mu.Unlock()
		if err == nil && b.st != nil {
			wake(b.commitWake)
		}
		wake(b.readerWake)
		return nil
	}, nil
}

// emitSnapshotLocked takes a snapshot and unlocks mu.
func (b *salesAggregate) emitSnapshotLocked(mode Mode, final bool) (service.MessageBatch, service.AckFunc, error) {
	b.snapBuf = b.agg.AppendSnapshot(b.snapBuf[:0], mode, b.now())
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

// EndOfInput starts the end: commit what is pending, emit the last rejected
// records and a final complete snapshot, then ErrEndOfBuffer.
func (b *salesAggregate) EndOfInput() {
	b.endOnce.Do(func() {
		b.mu.Lock()
		b.endOfInput = true
		b.mu.Unlock()
		close(b.endCh)
	})
}

// Close commits what is pending (deletions from the outbox included) and
// closes the state.
func (b *salesAggregate) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.committed) // releases writers waiting for room
	b.committed = make(chan struct{})
	b.mu.Unlock()
	b.stopTicker()
	if b.st == nil {
		return nil
	}
	close(b.stopCommit)
	select {
	case <-b.commitDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	acks := b.pendingAcks
	b.pendingAcks = nil
	b.mu.Unlock()
	// Whatever could not be committed is nacked, to be read again.
	for _, fn := range acks {
		_ = fn(ctx, service.ErrNotConnected)
	}
	if err := b.st.close(); err != nil {
		return fmt.Errorf("closing sales state: %w", err)
	}
	return nil
}
