package kafka

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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

Metrics: `+"`kafka_consumed_records`, `kafka_consumed_bytes`"+` (labelled by topic), `+"`kafka_fetch_errors` and `kafka_commit_errors`"+`, and `+"`batch_created`"+` (labelled by mechanism: count, size or period; under the input's path) for a batching policy without a check or processors, which the input applies itself with Benthos' rules (a policy with either uses Benthos' batcher and its metrics).
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
			service.NewBoolField(fieldBulk).
				Description("When the stream's buffer is `sales_aggregate`, hand it each partition's records in bulk: one message per batch of up to `batching.count` records (1024 when unset) with the records in its context, instead of one message per record, which is most of what a record costs between Kafka and the totals. The buffer makes a record's own message, with the metadata below, only for a record it rejects. Benthos' `input_received` metric then counts batches (`kafka_consumed_records` counts records). Input-level `processors` would see one message per batch: a processor that rewrites one is refused by the buffer; set `bulk: false` to run processors on each record. Without `sales_aggregate`, or with `batching.check` or `batching.processors` set, records go one message each whatever this says.").
				Default(true).
				Example(false).
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

// franzReader is the kafka_franz input.
type franzReader struct {
	clientOpts      []kgo.Opt
	groupOpts       []kgo.Opt
	group           string
	checkpointLimit int64
	commitPeriod    time.Duration
	batchPolicy     service.BatchPolicy
	plainBatching   bool // the policy has no check and no processors: countBatcher
	replayNacks     bool
	// bulkAllowed is the bulk field and a batching policy that bulk can
	// follow (no check, no processors); bulk says the stream's owner takes
	// bulk too, decided at Connect. bulkCount and bulkBytes bound a bulk.
	bulkAllowed bool
	bulk        bool
	bulkCount   int
	bulkBytes   int

	// Rejected batches wait in replayQ; replayed wakes a waiting ReadBatch.
	replayMu sync.Mutex
	replayQ  []ackBatch
	replayed chan struct{}

	mgr         *service.Resources
	background  context.Context // parent of the messages' contexts (recordBackground)
	log         *service.Logger
	limit       *LogLimiter // for errors a retry loop may repeat
	mConsumed   *service.MetricCounter
	mBytes      *service.MetricCounter
	mFetchErrs  *service.MetricCounter
	mCommitErrs *service.MetricCounter
	mBatches    *service.MetricCounter // batch_created by countBatcher
	marks       *HighWatermarks

	mu   sync.Mutex
	sess *readerSession
}

func newFranzReaderFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*franzReader, error) {
	r := &franzReader{
		replayed:    make(chan struct{}, 1),
		mgr:         mgr,
		background:  recordBackground(mgr),
		log:         mgr.Logger(),
		limit:       NewLogLimiter(mgr.Logger(), DefaultLogEvery),
		mConsumed:   mgr.Metrics().NewCounter("kafka_consumed_records", "topic"),
		mBytes:      mgr.Metrics().NewCounter("kafka_consumed_bytes", "topic"),
		mFetchErrs:  mgr.Metrics().NewCounter("kafka_fetch_errors"),
		mCommitErrs: mgr.Metrics().NewCounter("kafka_commit_errors"),
		mBatches:    mgr.Metrics().NewCounter("batch_created", "mechanism"),
		marks:       &HighWatermarks{},
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
	if r.bulkAllowed, err = conf.FieldBool(fieldBulk); err != nil {
		return nil, err
	}
	r.plainBatching = r.batchPolicy.Check == "" && !batchHasProcessors(conf)
	if !r.plainBatching {
		r.bulkAllowed = false
	}
	r.bulkCount, r.bulkBytes = r.batchPolicy.Count, r.batchPolicy.ByteSize
	if r.bulkCount <= 0 {
		r.bulkCount = defaultBulkCount
	}

	r.clientOpts = opts
	RegisterInput(mgr, &InputInfo{Group: r.group, Topics: topics, ConnOpts: connOpts, HighWatermarks: r.marks, CheckpointLimit: limit})
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
	owner := partitionOwner(r.mgr)
	if r.group != "" {
		owner = r.waitOwner(ctx)
	}
	r.bulk = r.bulkAllowed && takesBulk(owner)
	if r.group != "" {
		if owner != nil {
			// The owner gives every position; one the broker no longer has
			// must stop the owner, never be replaced with the log's start.
			opts = append(opts, kgo.ConsumeResetOffset(kgo.NoResetOffset()))
		}
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
	// Names an address that is not a Kafka broker within seconds, and stops
	// the process on refused credentials, which retrying cannot fix.
	if err := connectCheck(ctx, cl, r.log, "kafka_franz input"); err != nil {
		cl.Close()
		return err
	}
	s.client = cl
	close(s.clientReady)
	go s.run()
	r.sess = s
	return nil
}

// waitOwner returns the stream's PartitionOwner. Benthos 4.80 starts the
// input only once every layer is built, so the owner is there; the short
// wait guards a builder that starts inputs earlier, at no cost at connect.
func (r *franzReader) waitOwner(ctx context.Context) PartitionOwner {
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		if o := partitionOwner(r.mgr); o != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return o
		}
		time.Sleep(5 * time.Millisecond)
	}
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
			if b.batch == nil {
				// A lazy batch: its partition's messages are made here
				// only, one batch at a time.
				b.batch = b.t.meta.messages(b.recs)
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
	// Not the tracker's recordMeta: the fetch loop uses that one, or, for
	// lazy batches, ReadBatch as it takes them from the session.
	meta := newRecordMeta(b.t.meta.background, b.t.topic, b.t.partition, b.t.meta.pos.TopicID, b.t.meta.pos.Assignment)
	if b.t.bulk {
		return service.MessageBatch{meta.bulkMessage(b.recs)}, true, nil
	}
	batch := meta.messages(b.recs)
	if r.batchPolicy.IsNoop() || r.plainBatching {
		// count, byte_size and period cut the batch already.
		return batch, true, nil
	}
	// Benthos' batcher of its own, for the check or the batching processors:
	// the partition's holds the next batch's messages.
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
