package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Input field names.
const (
	fieldTopics          = "topics"
	fieldConsumerGroup   = "consumer_group"
	fieldStartFromOldest = "start_from_oldest"
	fieldCheckpointLimit = "checkpoint_limit"
	fieldCommitPeriod    = "commit_period"
	fieldSessionTimeout  = "session_timeout"
	fieldHeartbeat       = "heartbeat_interval"
	fieldRebalance       = "rebalance_timeout"
	fieldFetchMaxBytes   = "fetch_max_bytes"
	fieldMetadataMaxAge  = "metadata_max_age"
)

// inputSpec is the one place the kafka_franz input configuration is defined.
func inputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Reads records from Kafka topics with the franz-go client; compatible with Redpanda Connect's kafka_franz input.").
		Description(`
With a `+"`consumer_group`"+` the partitions of the topics are balanced across every client of the group and offsets are committed under the group name; without one, every partition is consumed from `+"`start_from_oldest`"+` and nothing is committed.

An offset is committed only when every message up to it on that partition has been acknowledged by the output, every `+"`commit_period`"+` and when partitions are revoked or the input closes. After a crash messages that were not acknowledged are delivered again (at-least-once). While `+"`auto_replay_nacks`"+` is true a rejected batch is delivered again, whole and before any new batch, made afresh from its records (so changes the pipeline made to its messages are gone, and the batching processors run again), after a back-off that doubles from 1ms to 1s; with it false a rejected batch is dropped and its offsets committed.

== Metadata

This input adds the following metadata fields to each message:

`+"```text"+`
- kafka_key
- kafka_topic
- kafka_partition
- kafka_offset
- kafka_timestamp_unix
- kafka_timestamp_ms
- kafka_tombstone_message
- All record headers
`+"```"+`

`+"`kafka_topic`, `kafka_partition` and `kafka_offset`"+` identify the record exactly and can be used for exactly-once state downstream.

Metrics: `+"`kafka_consumed_records`, `kafka_consumed_bytes`"+` (labelled by topic), `+"`kafka_fetch_errors` and `kafka_commit_errors`"+`.
`).
		Fields(inputFields()...).
		LintRule(`root = [
  if this.topics.or([]).filter(t -> t.trim() != "").length() == 0 { "topics must list at least one topic" },
  if this.topics.or([]).any(t -> t.contains(":")) { "explicit partitions in topics (topic:partition) are not supported by this build" },
  if this.checkpoint_limit.or(1) < 1 { "checkpoint_limit must be at least 1" },
  if this.heartbeat_interval.or("3s").parse_duration() * 3 > this.session_timeout.or("1m").parse_duration() { "heartbeat_interval must be under a third of session_timeout" },
]`).
		Example("Consumer group", "Consumes the orders topic as part of a consumer group, committing offsets of acknowledged messages.", `
input:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topics: [ "${KAFKA_TOPIC:vendas_ecommerce}" ]
    consumer_group: vendas_aggregate
    start_from_oldest: true
`).
		Example("Whole topic without a group", "Reads every partition of a topic from the beginning without committing offsets, batching per partition.", `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ vendas_ecommerce ]
    batching:
      count: 500
      period: 100ms
`)
}

func inputFields() []*service.ConfigField {
	return slices.Concat(
		connectionFields(),
		[]*service.ConfigField{
			service.NewStringListField(fieldTopics).
				Description("A list of topics to consume from. Multiple comma separated topics can be listed in a single element. When a `consumer_group` is specified partitions are automatically distributed across consumers of a topic, otherwise all partitions are consumed.").
				Example([]string{"vendas_ecommerce"}).
				Example([]string{"foo", "bar"}).
				Example([]string{"foo,bar"}),
			service.NewStringField(fieldConsumerGroup).
				Description("An optional consumer group to consume as. When specified the partitions of specified topics are automatically distributed across consumers sharing a consumer group, and partition offsets are automatically committed and resumed under this name.").
				Example("vendas_aggregate").
				Optional(),
			service.NewIntField(fieldCheckpointLimit).
				Description("Determines how many messages of the same partition can be processed in parallel before applying back pressure. When a message of a given offset is delivered to the output the offset is only allowed to be committed when all messages of prior offsets have also been delivered, this ensures at-least-once delivery guarantees. However, this mechanism also increases the likelihood of duplicates in the event of crashes or server faults, reducing the checkpoint limit will mitigate this.").
				Default(1024).
				Example(64).
				Advanced(),
			service.NewAutoRetryNacksToggleField(),
			service.NewDurationField(fieldCommitPeriod).
				Description("The period of time between each commit of the current partition offsets. Offsets are always committed during shutdown and when partitions are revoked.").
				Default("5s").
				Example("1s").
				Advanced(),
			service.NewDurationField(fieldSessionTimeout).
				Description("With a `consumer_group`, how long the broker waits for a member's heartbeat before it removes the member and rebalances. A consumer restarted after a crash waits up to this long for its partitions. Equivalent to the Java session.timeout.ms.").
				Default("1m").
				Example("10s").
				Advanced(),
			service.NewDurationField(fieldHeartbeat).
				Description("With a `consumer_group`, how often a member sends heartbeats; keep it under a third of `session_timeout`. Equivalent to the Java heartbeat.interval.ms.").
				Default("3s").
				Example("1s").
				Advanced(),
			service.NewDurationField(fieldRebalance).
				Description("With a `consumer_group`, how long members may take to finish their work and commit offsets once a rebalance has begun.").
				Default("45s").
				Example("10s").
				Advanced(),
			service.NewBoolField(fieldStartFromOldest).
				Description("Determines whether to consume from the oldest available offset, otherwise messages are consumed from the latest offset. The setting is applied when creating a new consumer group or the saved offset no longer exists.").
				Default(true).
				Example(false).
				Advanced(),
			service.NewStringField(fieldFetchMaxBytes).
				Description("Sets the maximum amount of bytes a broker will try to send during a fetch. Note that brokers may not obey this limit if it has records larger than this limit. This is the equivalent to the Java fetch.max.bytes setting.").
				Default("50MiB").
				Example("10MiB").
				Advanced(),
			service.NewDurationField(fieldMetadataMaxAge).
				Description("How old the client's view of the cluster (topics, partitions, leaders) may get before it is refreshed. Partitions added to a topic are read once a refresh sees them. Equivalent to the Java metadata.max.age.ms.").
				Default("5m").
				Example("5s").
				Advanced(),
			service.NewBatchPolicyField(fieldBatching).
				Description("Allows you to configure a batching policy that applies to individual topic partitions in order to batch messages together before flushing them for processing. Batching can be beneficial for performance as well as useful for windowed processing, and doing so this way preserves the ordering of topic partitions.").
				Advanced(),
		},
	)
}

func init() {
	err := service.RegisterBatchInput("kafka_franz", inputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			rdr, err := newFranzReaderFromConfig(conf, mgr)
			if err != nil {
				return nil, err
			}
			// Not service.AutoRetryNacksBatchedToggled: it copies every message
			// of every batch to replay it, about a tenth of the cost of consuming;
			// the reader makes a rejected batch again from its records instead.
			return rdr, nil
		})
	if err != nil {
		panic(err)
	}
}

// Metadata keys set on every consumed message.
const (
	MetaKey           = "kafka_key"
	MetaTopic         = "kafka_topic"
	MetaPartition     = "kafka_partition"
	MetaOffset        = "kafka_offset"
	MetaTimestampUnix = "kafka_timestamp_unix"
	MetaTimestampMs   = "kafka_timestamp_ms"
	MetaTombstone     = "kafka_tombstone_message"
)

// RecordPosition returns the topic, partition and offset of the Kafka record a
// message was read from by the kafka_franz input, for processors that keep
// exactly-once state per partition.
func RecordPosition(msg *service.Message) (topic string, partition int32, offset int64, err error) {
	topic, ok := msg.MetaGet(MetaTopic)
	if !ok || topic == "" {
		return "", 0, 0, fmt.Errorf("metadata %s is missing", MetaTopic)
	}
	p, err := metaInt(msg, MetaPartition)
	if err != nil {
		return "", 0, 0, err
	}
	if p < 0 || p > math.MaxInt32 {
		return "", 0, 0, fmt.Errorf("metadata %s: %d is not a partition", MetaPartition, p)
	}
	o, err := metaInt(msg, MetaOffset)
	if err != nil {
		return "", 0, 0, err
	}
	return topic, int32(p), o, nil
}

func metaInt(msg *service.Message, key string) (int64, error) {
	v, ok := msg.MetaGetMut(key)
	if !ok {
		return 0, fmt.Errorf("metadata %s is missing", key)
	}
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int32:
		return int64(n), nil
	case int64:
		return n, nil
	}
	s, _ := msg.MetaGet(key)
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return 0, fmt.Errorf("metadata %s: %q is not an integer", key, s)
	}
	return n, nil
}

// recordMeta builds messages from the records of one partition. Benthos keeps
// metadata as boxed values: the ones every record of the partition shares
// (topic, partition, and the timestamp of records produced in the same
// millisecond) are boxed once here, so that a message costs only what differs.
type recordMeta struct {
	topic, partition any
	tsMs             int64
	tsUnixV, tsMsV   any

	pos        Position   // topic, topic ID, partition and assignment of every record
	positions  []Position // allocated a slab at a time
	background context.Context
}

func newRecordMeta(topic string, partition int32, topicID [16]byte, assignment uint64) *recordMeta {
	return &recordMeta{
		topic: topic, partition: int(partition),
		pos:        Position{Topic: topic, TopicID: topicID, Partition: partition, Assignment: assignment},
		background: context.Background(),
	}
}

// message converts a record, keeping the metadata Redpanda Connect sets. The
// headers go first, so that none can stand in for the position the broker
// reported: a header named like one of the input's own keys is kept as
// kafka_header_<name>. The position also goes in the message's context
// (PositionOf), out of reach of metadata processors.
func (m *recordMeta) message(r *kgo.Record) *service.Message {
	msg := service.NewMessage(r.Value)
	for _, h := range r.Headers {
		if _, reserved := reservedMeta[h.Key]; reserved {
			msg.MetaSetMut(HeaderPrefix+h.Key, string(h.Value))
			continue
		}
		msg.MetaSetMut(h.Key, string(h.Value))
	}
	if ms := r.Timestamp.UnixMilli(); m.tsMsV == nil || ms != m.tsMs {
		m.tsMs, m.tsMsV, m.tsUnixV = ms, ms, r.Timestamp.Unix()
	}
	msg.MetaSetMut(MetaKey, string(r.Key))
	msg.MetaSetMut(MetaTopic, m.topic)
	msg.MetaSetMut(MetaPartition, m.partition)
	msg.MetaSetMut(MetaOffset, int(r.Offset))
	msg.MetaSetMut(MetaTimestampUnix, m.tsUnixV)
	msg.MetaSetMut(MetaTimestampMs, m.tsMsV)
	msg.MetaSetMut(MetaTombstone, r.Value == nil)
	if len(m.positions) == 0 {
		m.positions = make([]Position, 256)
	}
	p := &m.positions[0]
	m.positions = m.positions[1:]
	*p = m.pos
	p.Offset = r.Offset
	return msg.WithContext(context.WithValue(m.background, positionKey{}, p))
}

//------------------------------------------------------------------------------

// franzReader is the kafka_franz input.
type franzReader struct {
	clientOpts      []kgo.Opt
	groupOpts       []kgo.Opt
	group           string
	checkpointLimit int64
	commitPeriod    time.Duration
	batchPolicy     service.BatchPolicy
	replayNacks     bool

	// Rejected batches wait in replayQ; replayed wakes a waiting ReadBatch.
	replayMu sync.Mutex
	replayQ  []ackBatch
	replayed chan struct{}

	mgr         *service.Resources
	log         *service.Logger
	mConsumed   *service.MetricCounter
	mBytes      *service.MetricCounter
	mFetchErrs  *service.MetricCounter
	mCommitErrs *service.MetricCounter

	mu   sync.Mutex
	sess *readerSession
}

func newFranzReaderFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*franzReader, error) {
	r := &franzReader{
		replayed:    make(chan struct{}, 1),
		mgr:         mgr,
		log:         mgr.Logger(),
		mConsumed:   mgr.Metrics().NewCounter("kafka_consumed_records", "topic"),
		mBytes:      mgr.Metrics().NewCounter("kafka_consumed_bytes", "topic"),
		mFetchErrs:  mgr.Metrics().NewCounter("kafka_fetch_errors"),
		mCommitErrs: mgr.Metrics().NewCounter("kafka_commit_errors"),
	}

	opts, _, err := connectionOptsFromConfig(conf, mgr.Logger())
	if err != nil {
		return nil, err
	}
	connOpts := slices.Clone(opts)
	maxAge, err := conf.FieldDuration(fieldMetadataMaxAge)
	if err != nil {
		return nil, err
	}
	if maxAge < time.Second {
		return nil, fmt.Errorf("field %s: %v is too short, use at least 1s", fieldMetadataMaxAge, maxAge)
	}
	opts = append(opts, kgo.MetadataMaxAge(maxAge), kgo.MetadataMinAge(min(maxAge, 5*time.Second)))

	topicList, err := conf.FieldStringList(fieldTopics)
	if err != nil {
		return nil, err
	}
	topics := splitList(topicList)
	if len(topics) == 0 {
		return nil, fmt.Errorf("field %s: no topic given (value %q), list at least one topic", fieldTopics, topicList)
	}
	for _, t := range topics {
		if strings.Contains(t, ":") {
			return nil, fmt.Errorf("field %s: %q names explicit partitions, which this build does not support; list topic names only", fieldTopics, t)
		}
	}
	opts = append(opts, kgo.ConsumeTopics(topics...))

	if conf.Contains(fieldConsumerGroup) {
		if r.group, err = conf.FieldString(fieldConsumerGroup); err != nil {
			return nil, err
		}
	}

	oldest, err := conf.FieldBool(fieldStartFromOldest)
	if err != nil {
		return nil, err
	}
	if oldest {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	}

	limit, err := conf.FieldInt(fieldCheckpointLimit)
	if err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("field %s: value %d is invalid, must be at least 1", fieldCheckpointLimit, limit)
	}
	r.checkpointLimit = int64(limit)

	if r.commitPeriod, err = conf.FieldDuration(fieldCommitPeriod); err != nil {
		return nil, err
	}
	if r.commitPeriod <= 0 {
		return nil, fmt.Errorf("field %s: value %v is invalid, must be positive", fieldCommitPeriod, r.commitPeriod)
	}

	var session, heartbeat, rebalance time.Duration
	if session, err = conf.FieldDuration(fieldSessionTimeout); err != nil {
		return nil, err
	}
	if heartbeat, err = conf.FieldDuration(fieldHeartbeat); err != nil {
		return nil, err
	}
	if rebalance, err = conf.FieldDuration(fieldRebalance); err != nil {
		return nil, err
	}
	if session <= 0 || heartbeat <= 0 || rebalance <= 0 || heartbeat*3 > session {
		return nil, fmt.Errorf("fields %s (%v), %s (%v), %s (%v): each must be positive and %s under a third of %s",
			fieldSessionTimeout, session, fieldHeartbeat, heartbeat, fieldRebalance, rebalance, fieldHeartbeat, fieldSessionTimeout)
	}
	r.groupOpts = []kgo.Opt{kgo.SessionTimeout(session), kgo.HeartbeatInterval(heartbeat), kgo.RebalanceTimeout(rebalance)}

	fetchMax, err := bytesField(conf, fieldFetchMaxBytes, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.FetchMaxBytes(fetchMax), kgo.WithDecompressor(newLZ4Decompressor()))

	if r.batchPolicy, err = conf.FieldBatchPolicy(fieldBatching); err != nil {
		return nil, err
	}
	if r.replayNacks, err = conf.FieldBool(service.AutoRetryNacksToggleFieldName); err != nil {
		return nil, err
	}

	r.clientOpts = opts
	RegisterInput(mgr, &InputInfo{Group: r.group, Topics: topics, ConnOpts: connOpts})
	return r, nil
}

// Connect starts a client and its fetch loop. It is a no-op when connected.
func (r *franzReader) Connect(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sess != nil {
		return nil
	}

	s := newReaderSession(r)
	opts := slices.Clone(r.clientOpts)
	if r.group != "" {
		opts = append(opts, r.groupOpts...)
		opts = append(opts,
			kgo.ConsumerGroup(r.group),
			kgo.AutoCommitMarks(),
			kgo.AutoCommitInterval(r.commitPeriod),
			kgo.AutoCommitCallback(s.onCommitted),
			kgo.OnPartitionsRevoked(s.onRevoked),
			kgo.OnPartitionsLost(s.onLost),
			kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
		)
	}

	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	if err := pingClient(ctx, cl); err != nil {
		cl.Close()
		return err
	}
	s.client = cl
	go s.run()
	r.sess = s
	return nil
}

// ReadBatch returns the next batch of one partition, a rejected batch first.
// The ack function releases the batch for committing. A rejected batch is
// delivered again whole (also the messages of it that were processed), made
// again from its records after a back-off, unless auto_replay_nacks is off:
// then it is dropped and committed like an acknowledged one.
func (r *franzReader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	r.mu.Lock()
	s := r.sess
	r.mu.Unlock()
	if s == nil {
		return nil, nil, service.ErrNotConnected
	}

	for {
		if b, ok := r.nextReplay(); ok {
			batch, ok, err := r.remake(ctx, b)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			if len(batch) == 0 {
				// The batching processors dropped it all this time.
				b.release()
				continue
			}
			b.batch = batch
			return r.deliver(b)
		}
		select {
		case <-r.replayed:
		case b, open := <-s.batches:
			if !open {
				r.mu.Lock()
				if r.sess == s {
					r.sess = nil
				}
				r.mu.Unlock()
				return nil, nil, service.ErrNotConnected
			}
			return r.deliver(b)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (r *franzReader) deliver(b ackBatch) (service.MessageBatch, service.AckFunc, error) {
	return b.batch, func(_ context.Context, err error) error {
		if err != nil && r.replayNacks {
			b.attempt++
			r.reject(b)
			return nil
		}
		b.release()
		return nil
	}, nil
}

// Back-off before a rejected batch is delivered again: it doubles with every
// rejection of the same batch, as with Benthos' auto_replay_nacks.
const (
	replayFirstWait = time.Millisecond
	replayMaxWait   = time.Second
)

// reject queues a rejected batch to be delivered before any new one. The
// queue is the reader's, not the session's: without a consumer group a new
// session after a reconnect starts at start_from_oldest's end of the topic,
// and may never read the batch again.
func (r *franzReader) reject(b ackBatch) {
	r.replayMu.Lock()
	r.replayQ = append(r.replayQ, b)
	r.replayMu.Unlock()
	select {
	case r.replayed <- struct{}{}:
	default:
	}
}

func (r *franzReader) nextReplay() (ackBatch, bool) {
	r.replayMu.Lock()
	defer r.replayMu.Unlock()
	if len(r.replayQ) == 0 {
		return ackBatch{}, false
	}
	b := r.replayQ[0]
	r.replayQ[0] = ackBatch{}
	r.replayQ = r.replayQ[1:]
	return b, true
}

// requeue puts a batch that could not be made again back in front.
func (r *franzReader) requeue(b ackBatch) {
	r.replayMu.Lock()
	r.replayQ = append([]ackBatch{b}, r.replayQ...)
	r.replayMu.Unlock()
}

// remake waits out a rejected batch's back-off and makes it again from its
// records, as the pipeline may have changed its messages, through the
// batching processors if there are any. With a consumer group it reports
// false if the partition was revoked meanwhile: the batch was never
// committed, so whoever owns the partition now reads it again from Kafka.
// If the batching processors fail (or ctx ends during them) the batch goes
// back in front of the queue, for a later attempt.
func (r *franzReader) remake(ctx context.Context, b ackBatch) (service.MessageBatch, bool, error) {
	wait := min(replayFirstWait<<min(max(b.attempt-1, 0), 10), replayMaxWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		r.requeue(b)
		return nil, false, ctx.Err()
	}
	if r.group != "" && b.t.isClosed() {
		return nil, false, nil
	}
	// Not the tracker's recordMeta: the fetch loop uses that one.
	meta := newRecordMeta(b.t.topic, b.t.partition, b.t.meta.pos.TopicID, b.t.meta.pos.Assignment)
	batch := make(service.MessageBatch, len(b.recs))
	for i, rec := range b.recs {
		batch[i] = meta.message(rec)
	}
	if r.batchPolicy.IsNoop() {
		return batch, true, nil
	}
	// A batcher of its own: the partition's holds the next batch's messages.
	bat, err := r.batchPolicy.NewBatcher(r.mgr)
	if err != nil {
		r.log.Error(fmt.Sprintf("Failed to create the batching policy to replay a batch of topic %s partition %d, will retry: %v", b.t.topic, b.t.partition, err))
		b.attempt++
		r.requeue(b)
		return nil, false, nil
	}
	defer func() { _ = bat.Close(context.Background()) }()
	for _, m := range batch {
		bat.Add(m)
	}
	out, err := bat.Flush(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error(fmt.Sprintf("Batching processors failed replaying a batch of topic %s partition %d, will retry: %v", b.t.topic, b.t.partition, err))
			b.attempt++
		}
		r.requeue(b)
		return nil, false, ctx.Err()
	}
	return out, true, nil
}

// Close stops fetching, commits what has been acknowledged and leaves the group.
func (r *franzReader) Close(ctx context.Context) error {
	r.mu.Lock()
	s := r.sess
	r.sess = nil
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

//------------------------------------------------------------------------------

// ackBatch is a batch of one partition with the function that releases it.
type ackBatch struct {
	batch   service.MessageBatch
	release func()

	// recs are the records the batch was made of, t their partition and
	// attempt how many times the batch was rejected.
	recs    []*kgo.Record
	t       *partitionTracker
	attempt int
}

// readerSession is one client and its fetch loop; a new one is made on reconnect.
type readerSession struct {
	r       *franzReader
	client  *kgo.Client
	batches chan ackBatch
	wake    chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	topics map[string]map[int32]*partitionTracker
	// With a PartitionOwner: the assignment of every assigned partition and
	// the topic ID it was assigned under.
	assigned map[string]map[int32]uint64
	topicIDs map[string][16]byte
}

func newReaderSession(r *franzReader) *readerSession {
	ctx, cancel := context.WithCancel(context.Background())
	return &readerSession{
		r:       r,
		batches: make(chan ackBatch),
		wake:    make(chan struct{}, 1),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		topics:  map[string]map[int32]*partitionTracker{},

		assigned: map[string]map[int32]uint64{},
		topicIDs: map[string][16]byte{},
	}
}

func (s *readerSession) stop() {
	s.cancel()
}

// run polls the client until the session is stopped or the client fails, then
// commits what was acknowledged and closes the client.
func (s *readerSession) run() {
	defer close(s.done)
	defer func() {
		s.cancel()
		s.removeAll()
		close(s.batches)
		if s.r.group != "" {
			// The output acknowledged everything it will before Close, so this
			// commit includes every acknowledged message.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.client.CommitMarkedOffsets(ctx); err != nil {
				s.r.mCommitErrs.Incr(1)
				s.r.log.Error(fmt.Sprintf("Kafka offset commit on close failed: %v", err))
			}
			cancel()
		}
		s.client.Close()
	}()

	for {
		s.drainAll()
		if s.ctx.Err() != nil {
			return
		}
		fetches := s.poll()
		if s.ctx.Err() != nil {
			return
		}
		fatal := false
		fetches.EachError(func(topic string, partition int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if errors.Is(err, kgo.ErrClientClosed) {
				fatal = true
				return
			}
			s.r.mFetchErrs.Incr(1)
			if topic == "" {
				// A group or client level error is a notification: franz-go
				// keeps retrying on its own. Closing the client here would
				// leave a member behind in the group (its LeaveGroup fails
				// while the broker is down) and the next one would wait a
				// whole session_timeout for its partitions.
				s.r.log.Error(fmt.Sprintf("Kafka consumer error (retrying): %v", err))
				return
			}
			s.r.log.Error(fmt.Sprintf("Kafka fetch error on topic %s partition %d: %v", topic, partition, err))
		})
		if fatal {
			return
		}
		s.checkTopicIDs(fetches)

		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			var size int64
			for _, rec := range p.Records {
				size += int64(len(rec.Key) + len(rec.Value))
			}
			s.r.mConsumed.Incr(int64(len(p.Records)), p.Topic)
			s.r.mBytes.Incr(size, p.Topic)
			s.tracker(p.Topic, p.Partition).enqueue(p.Records)
		})
		s.drainAll()
		if s.ctx.Err() != nil {
			return
		}
		s.updatePaused()
	}
}

// drainAll hands the fetched records downstream, per partition, as long as the
// partition has fewer than checkpoint_limit unacknowledged messages.
func (s *readerSession) drainAll() {
	s.mu.Lock()
	all := make([]*partitionTracker, 0, len(s.topics))
	for _, parts := range s.topics {
		for _, t := range parts {
			all = append(all, t)
		}
	}
	s.mu.Unlock()
	for _, t := range all {
		t.drain(s.ctx)
	}
}

// updatePaused stops fetching partitions that hold records they may not hand
// downstream yet, and resumes the others.
func (s *readerSession) updatePaused() {
	pause := map[string][]int32{}
	s.mu.Lock()
	for topic, parts := range s.topics {
		for p, t := range parts {
			if t.blocked() {
				pause[topic] = append(pause[topic], p)
			}
		}
	}
	s.mu.Unlock()

	resume := map[string][]int32{}
	for topic, parts := range s.client.PauseFetchPartitions(pause) {
		for _, p := range parts {
			if t := s.lookup(topic, p); t == nil || !t.blocked() {
				resume[topic] = append(resume[topic], p)
			}
		}
	}
	if len(resume) > 0 {
		s.client.ResumeFetchPartitions(resume)
	}
}

// poll waits for records, returning early when an acknowledgement makes room
// in a paused partition so that it can be resumed promptly.
func (s *readerSession) poll() kgo.Fetches {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.wake:
			cancel()
		case <-ctx.Done():
		}
	}()
	return s.client.PollFetches(ctx)
}

func (s *readerSession) notifyRoom() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *readerSession) tracker(topic string, partition int32) *partitionTracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := s.topics[topic]
	if parts == nil {
		parts = map[int32]*partitionTracker{}
		s.topics[topic] = parts
	}
	t := parts[partition]
	if t == nil {
		t = newPartitionTracker(s, topic, partition, s.topicIDs[topic], s.assigned[topic][partition])
		parts[partition] = t
	}
	return t
}

func (s *readerSession) lookup(topic string, partition int32) *partitionTracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.topics[topic][partition]
}

func (s *readerSession) remove(m map[string][]int32) {
	s.mu.Lock()
	var gone []*partitionTracker
	for topic, parts := range m {
		for _, p := range parts {
			if t := s.topics[topic][p]; t != nil {
				gone = append(gone, t)
				delete(s.topics[topic], p)
			}
		}
		if len(s.topics[topic]) == 0 {
			delete(s.topics, topic)
		}
	}
	s.mu.Unlock()
	for _, t := range gone {
		t.close()
	}
}

func (s *readerSession) removeAll() {
	m := map[string][]int32{}
	s.mu.Lock()
	for topic, parts := range s.topics {
		for p := range parts {
			m[topic] = append(m[topic], p)
		}
	}
	s.mu.Unlock()
	s.remove(m)
}

// onRevoked commits what was acknowledged before the partitions go to another
// member, so the new owner starts right after it.
func (s *readerSession) onRevoked(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.r.mCommitErrs.Incr(1)
		s.r.log.Error(fmt.Sprintf("Kafka offset commit on partition revoke (%v) failed: %v", m, err))
	}
	s.remove(m)
	s.unassign(m)
}

func (s *readerSession) onLost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	s.r.log.Warn(fmt.Sprintf("Kafka partitions lost without a chance to commit: %v", m))
	s.remove(m)
	s.unassign(m)
}

// unassign tells the PartitionOwner, if any, that partitions are gone.
func (s *readerSession) unassign(m map[string][]int32) {
	owner := partitionOwner(s.r.mgr)
	s.mu.Lock()
	for topic, parts := range m {
		for _, p := range parts {
			delete(s.assigned[topic], p)
		}
	}
	s.mu.Unlock()
	if owner == nil {
		return
	}
	for topic, parts := range m {
		owner.Revoke(topic, parts)
	}
}

// adjustOffsets replaces the group's committed offsets of newly assigned
// partitions with the positions the PartitionOwner keeps, when there is one:
// the group's offsets are then only for lag tools, never the truth.
func (s *readerSession) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return offsets, nil
	}
	names := make([]string, 0, len(offsets))
	for topic := range offsets {
		names = append(names, topic)
	}
	ids, err := topicIDs(ctx, s.client, names)
	if err != nil {
		return nil, err
	}
	for topic, parts := range offsets {
		ps := make([]int32, 0, len(parts))
		for p := range parts {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		starts, err := owner.Assign(ctx, topic, ids[topic], ps)
		if err != nil {
			s.r.log.Error(fmt.Sprintf("Kafka partitions %s %v not read: %v", topic, ps, err))
			return nil, err
		}
		s.mu.Lock()
		s.topicIDs[topic] = ids[topic]
		if s.assigned[topic] == nil {
			s.assigned[topic] = map[int32]uint64{}
		}
		for _, p := range ps {
			st := starts[p]
			s.assigned[topic][p] = st.Assignment
			if st.FromBeginning {
				parts[p] = kgo.NewOffset().AtStart()
			} else {
				parts[p] = kgo.NewOffset().At(st.Offset)
			}
		}
		s.mu.Unlock()
	}
	return offsets, nil
}

// checkTopicIDs tells the PartitionOwner when a fetch comes from a topic
// whose ID is not the one its partitions were assigned under.
func (s *readerSession) checkTopicIDs(fetches kgo.Fetches) {
	owner := partitionOwner(s.r.mgr)
	if owner == nil {
		return
	}
	for _, f := range fetches {
		for _, t := range f.Topics {
			if t.TopicID == ([16]byte{}) {
				continue
			}
			s.mu.Lock()
			was, ok := s.topicIDs[t.Topic]
			s.mu.Unlock()
			if ok && was != ([16]byte{}) && was != t.TopicID {
				owner.TopicIDChanged(t.Topic, was, t.TopicID)
			}
		}
	}
}

func (s *readerSession) onCommitted(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		s.r.mCommitErrs.Incr(1)
		s.r.log.Error(fmt.Sprintf("Kafka offset commit failed: %v", err))
		return
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				s.r.mCommitErrs.Incr(1)
				s.r.log.Error(fmt.Sprintf("Kafka offset commit failed on topic %s partition %d: %v", t.Topic, p.Partition, err))
			}
		}
	}
}

//------------------------------------------------------------------------------

// partitionTracker batches the records of one partition and checkpoints them.
type partitionTracker struct {
	s         *readerSession
	topic     string
	partition int32

	meta *recordMeta

	// sendMu keeps flushing, tracking and sending in offset order.
	sendMu  sync.Mutex
	batcher *service.Batcher
	held    []*kgo.Record // the records of the messages the batcher holds

	// backlog holds fetched records waiting for room under checkpoint_limit;
	// only the fetch loop touches it.
	backlog []*kgo.Record

	cpMu   sync.Mutex
	cp     checkpointer[*kgo.Record]
	closed bool

	stopFlush chan struct{}
	flushDone chan struct{}
}

func newPartitionTracker(s *readerSession, topic string, partition int32, topicID [16]byte, assignment uint64) *partitionTracker {
	t := &partitionTracker{
		s:         s,
		topic:     topic,
		partition: partition,
		meta:      newRecordMeta(topic, partition, topicID, assignment),
		stopFlush: make(chan struct{}),
		flushDone: make(chan struct{}),
	}
	if !s.r.batchPolicy.IsNoop() {
		b, err := s.r.batchPolicy.NewBatcher(s.r.mgr)
		if err != nil {
			s.r.log.Error(fmt.Sprintf("Failed to create the batching policy for topic %s partition %d, delivering messages one by one: %v", topic, partition, err))
		} else {
			t.batcher = b
		}
	}
	if t.batcher != nil {
		go t.flushLoop()
	} else {
		close(t.flushDone)
	}
	return t
}

func (t *partitionTracker) enqueue(recs []*kgo.Record) {
	t.backlog = append(t.backlog, recs...)
}

// drain hands backlog records to the batcher, or downstream when there is no
// batching, until the partition is full. It blocks while the pipeline is busy,
// which is the back pressure.
func (t *partitionTracker) drain(ctx context.Context) {
	for len(t.backlog) > 0 && !t.full() && ctx.Err() == nil {
		rec := t.backlog[0]
		t.backlog[0] = nil
		t.backlog = t.backlog[1:]
		t.add(ctx, rec)
	}
	if len(t.backlog) == 0 {
		t.backlog = nil
	}
}

func (t *partitionTracker) add(ctx context.Context, rec *kgo.Record) {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	msg := t.meta.message(rec)
	if t.batcher == nil {
		t.send(ctx, service.MessageBatch{msg}, []*kgo.Record{rec})
		return
	}
	t.held = append(t.held, rec)
	if t.batcher.Add(msg) {
		t.flushLocked(ctx)
	}
}

// flushLocked sends what the batcher holds; sendMu must be held.
func (t *partitionTracker) flushLocked(ctx context.Context) {
	batch, err := t.batcher.Flush(ctx)
	if err != nil {
		t.s.r.log.Error(fmt.Sprintf("Batching processors failed on topic %s partition %d: %v", t.topic, t.partition, err))
	}
	recs := t.held
	t.held = make([]*kgo.Record, 0, len(recs))
	if len(batch) == 0 || len(recs) == 0 {
		return
	}
	t.send(ctx, batch, recs)
}

// send hands a batch downstream; recs are the records it was made of, oldest
// first, kept to make the batch again if it is rejected.
func (t *partitionTracker) send(ctx context.Context, batch service.MessageBatch, recs []*kgo.Record) {
	t.cpMu.Lock()
	release := t.cp.Track(recs[len(recs)-1], int64(len(batch)))
	t.cpMu.Unlock()

	ab := ackBatch{batch: batch, recs: recs, t: t, release: func() {
		t.cpMu.Lock()
		wasFull := t.cp.Pending() >= t.s.r.checkpointLimit
		rec, ok := release()
		room := !t.closed && wasFull && t.cp.Pending() < t.s.r.checkpointLimit
		t.cpMu.Unlock()
		if ok && t.s.r.group != "" {
			t.s.client.MarkCommitRecords(rec)
		}
		if room {
			// Let the fetch loop hand over the backlog and resume fetching.
			t.s.notifyRoom()
		}
	}}
	select {
	case t.s.batches <- ab:
	case <-ctx.Done():
		// Shutting down: the batch was never delivered, so it is never
		// released and its offset is never committed.
	}
}

func (t *partitionTracker) isClosed() bool {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	return t.closed
}

// full reports whether the partition reached checkpoint_limit unacknowledged
// messages (a batch flushed by the batching policy may overshoot it), or was
// revoked, so that nothing more is handed over.
func (t *partitionTracker) full() bool {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	return t.closed || t.cp.Pending() >= t.s.r.checkpointLimit
}

// blocked reports whether fetching from the partition must pause: it is full
// or still holds fetched records it could not hand over.
func (t *partitionTracker) blocked() bool {
	return len(t.backlog) > 0 || t.full()
}

func (t *partitionTracker) flushLoop() {
	defer close(t.flushDone)
	for {
		t.sendMu.Lock()
		wait, timed := t.batcher.UntilNext()
		t.sendMu.Unlock()
		if !timed {
			<-t.stopFlush
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
			t.sendMu.Lock()
			if next, _ := t.batcher.UntilNext(); next <= time.Millisecond {
				t.flushLocked(t.s.ctx)
			}
			t.sendMu.Unlock()
		case <-t.stopFlush:
			timer.Stop()
			return
		}
	}
}

// close stops the flush loop; records still held by the batcher were never
// delivered, so they are not committed and will be read again.
func (t *partitionTracker) close() {
	t.cpMu.Lock()
	t.closed = true
	t.cpMu.Unlock()
	close(t.stopFlush)
	<-t.flushDone
	if t.batcher != nil {
		_ = t.batcher.Close(context.Background())
	}
}
