package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// Output field names.
const (
	fieldTopic                  = "topic"
	fieldKey                    = "key"
	fieldPartitioner            = "partitioner"
	fieldPartition              = "partition"
	fieldMetadata               = "metadata"
	fieldCompression            = "compression"
	fieldIdempotentWrite        = "idempotent_write"
	fieldAllowAutoTopicCreation = "allow_auto_topic_creation"
	fieldMaxInFlight            = "max_in_flight"
	fieldTimeout                = "timeout"
	fieldMaxMessageBytes        = "max_message_bytes"
	fieldOversized              = "oversized"
)

// Values of the oversized field.
const (
	oversizedFail     = "fail"
	oversizedTruncate = "truncate"
)

// Headers of a record that oversized: truncate cut to fit.
const (
	headerTruncated    = "kafka_truncated"
	headerOriginalSize = "kafka_original_size"
)

// Partitioner names accepted by the partitioner field.
const (
	partitionerMurmur2     = "murmur2_hash"
	partitionerRoundRobin  = "round_robin"
	partitionerLeastBackup = "least_backup"
	partitionerManual      = "manual"
)

// outputSpec is the one place the kafka_franz output configuration is defined.
func outputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Writes messages to Kafka topics with the franz-go client; compatible with Redpanda Connect's kafka_franz output.").
		Description(`
Writes each batch to Kafka and returns only after the brokers acknowledged every record of the batch, so a message is acknowledged to the input only once it is durable in Kafka. Records that fail are reported with their topic and partition and retried by the pipeline; with `+"`idempotent_write`"+` the broker discards the duplicates that retries would otherwise create.

While brokers are unreachable the client keeps retrying internally and writes block (applying back pressure) until the cluster is back. Connecting is retried with back-off (1s, 2s, 4s ... every 30s); a seed broker address where something other than Kafka answers (an HTTP server, a TLS listener dialled without TLS) is named within seconds. When the brokers refuse the credentials (SASL or TLS), retrying cannot help: the output logs what to check and ends the process with status 1.

A topic deleted and created again under the same name (or a development broker restarted without its data) makes the client fail every record with `+"`UNKNOWN_TOPIC_ID`"+`: the output then forgets the old topic ID and writes those records to the new topic. A record too large for `+"`max_message_bytes`"+` or for the topic's `+"`max.message.bytes`"+` is handled as `+"`oversized`"+` says.

Metrics: `+"`kafka_produced_records`, `kafka_produced_bytes` and `kafka_produce_errors`"+`, labelled by topic.
`).
		Fields(outputFields()...).
		LintRule(`root = match {
  this.partitioner.or("") == "manual" && this.partition.or("") == "" => "a partition must be specified when the partitioner is set to manual"
  this.partitioner.or("") != "manual" && this.partition.or("") != "" => "a partition cannot be specified unless the partitioner is set to manual"
}`).
		Example("Orders keyed by id", "Writes each message to a topic, keyed by the order id so that all events of an order land on the same partition.", `
output:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topic: "${KAFKA_TOPIC:vendas_ecommerce}"
    key: ${! json("id_ordem") }
    compression: snappy
    batching:
      count: 100
      period: 50ms
`).
		Example("Manual partitioning with headers", "Chooses the partition from metadata and forwards the metadata keys starting with `app_` as record headers.", `
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: events
    partitioner: manual
    partition: ${! meta("partition") }
    metadata:
      include_prefixes: [ app_ ]
`)
}

func outputFields() []*service.ConfigField {
	return slices.Concat(
		connectionFields(),
		[]*service.ConfigField{
			service.NewInterpolatedStringField(fieldTopic).
				Description("The topic to write messages to.").
				Example("vendas_ecommerce").
				Example(`${! meta("kafka_topic") }`),
			service.NewInterpolatedStringField(fieldKey).
				Description("An optional key to set on each record. Records with the same key go to the same partition under the default partitioner.").
				Example(`${! json("id_ordem") }`).
				Optional(),
			service.NewStringAnnotatedEnumField(fieldPartitioner, map[string]string{
				partitionerMurmur2:     "Kafka's default hash algorithm that uses a 32-bit murmur2 hash of the key to compute which partition the record will be on.",
				partitionerRoundRobin:  "Round-robins messages through all available partitions. This algorithm has lower throughput and causes higher CPU load on brokers, but can be useful if you want to ensure an even distribution of records to partitions.",
				partitionerLeastBackup: "Chooses the least backed up partition (the partition with the fewest amount of buffered records). Partitions are selected per batch.",
				partitionerManual:      "Manually select a partition for each message, requires the field `partition` to be specified.",
			}).
				Description("Override the default murmur2 hashing partitioner.").
				Example(partitionerManual).
				Example(partitionerRoundRobin).
				Advanced().
				Optional(),
			service.NewInterpolatedStringField(fieldPartition).
				Description("An explicit partition to set for each message. This field is only relevant when the `partitioner` is set to `manual`. The provided interpolation string must be a valid integer.").
				Example(`${! meta("partition") }`).
				Optional(),
			service.NewMetadataFilterField(fieldMetadata).
				Description("Determine which (if any) metadata values should be added to messages as headers.").
				Optional(),
			service.NewIntField(fieldMaxInFlight).
				Description("The maximum number of batches to be sending in parallel at any given time.").
				Default(10).
				Example(64),
			service.NewBatchPolicyField(fieldBatching),
			service.NewBoolField(fieldIdempotentWrite).
				Description("Enable the idempotent write producer option: the broker discards records that a retry would duplicate, per partition. This requires the `IDEMPOTENT_WRITE` permission on the `CLUSTER` resource; disable it if your cluster does not grant it.").
				Default(true).
				Example(false).
				Advanced(),
			service.NewStringEnumField(fieldCompression, "lz4", "snappy", "gzip", "none", "zstd").
				Description("Optionally set an explicit compression type. The default preference is to use snappy when the broker supports it, and fall back to none if not.").
				Example("zstd").
				Optional().
				Advanced(),
			service.NewBoolField(fieldAllowAutoTopicCreation).
				Description("Enables topics to be auto created if they do not exist when fetching their metadata (the broker must allow it too).").
				Default(true).
				Example(false).
				Advanced(),
			service.NewDurationField(fieldTimeout).
				Description("The maximum period of time to wait for a produce request before abandoning the request and retrying.").
				Default("10s").
				Example("30s").
				Advanced(),
			service.NewStringField(fieldMaxMessageBytes).
				Description("The maximum size of a produced record batch in bytes. A `MESSAGE_TOO_LARGE` error is returned if a batch exceeds this limit. It maps to the broker's `max.message.bytes`, which must be at least as large.").
				Default("1MiB").
				Example("100MB").
				Example("50mib").
				Advanced(),
			service.NewStringAnnotatedEnumField(fieldOversized, map[string]string{
				oversizedFail:     "The record fails with a clear error and is retried with back-off (1s, 2s, 4s ... every 30s): the pipeline stops there until the limit is raised. Nothing is lost or changed.",
				oversizedTruncate: "The record is written with its value cut so that it fits (in `max_message_bytes`, or in the topic's `max.message.bytes` when the broker's limit is the smaller), and with the headers `" + headerTruncated + ": true` and `" + headerOriginalSize + ": <bytes of the whole value>`. Meant for a dead letter queue, where a record that cannot be written would hold up every record after it.",
			}).
				Description("What to do with a record that the client (`max_message_bytes`) or the broker (`MESSAGE_TOO_LARGE`) refuses for its size.").
				Default(oversizedFail).
				Example(oversizedTruncate).
				Advanced(),
		},
	)
}

func init() {
	err := service.RegisterBatchOutput("kafka_franz", outputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (out service.BatchOutput, pol service.BatchPolicy, maxInFlight int, err error) {
			if maxInFlight, err = conf.FieldInt(fieldMaxInFlight); err != nil {
				return
			}
			if maxInFlight < 1 {
				err = fmt.Errorf("field %s: value %d is invalid, must be at least 1", fieldMaxInFlight, maxInFlight)
				return
			}
			if pol, err = conf.FieldBatchPolicy(fieldBatching); err != nil {
				return
			}
			out, err = newFranzWriterFromConfig(conf, mgr)
			return
		})
	if err != nil {
		panic(err)
	}
}

// franzWriter is the kafka_franz output.
type franzWriter struct {
	topic      *service.InterpolatedString
	key        *service.InterpolatedString
	partition  *service.InterpolatedString
	metaFilter *service.MetadataFilter
	clientOpts []kgo.Opt

	log       *service.Logger
	mProduced *service.MetricCounter
	mBytes    *service.MetricCounter
	mErrors   *service.MetricCounter

	maxBytes int
	truncate bool

	logs        *LogLimiter
	connBackoff *retryBackoff
	sizeBackoff *retryBackoff

	// purges counts the topics purged from the client after UNKNOWN_TOPIC_ID,
	// so that of several batches failing at once only one purges.
	purgeMu sync.Mutex
	purges  atomic.Uint64

	limitsMu sync.Mutex
	limits   map[string]int // topic -> its max.message.bytes

	mu     sync.RWMutex
	client *kgo.Client
}

func newFranzWriterFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*franzWriter, error) {
	w := &franzWriter{
		log:       mgr.Logger(),
		mProduced: mgr.Metrics().NewCounter("kafka_produced_records", "topic"),
		mBytes:    mgr.Metrics().NewCounter("kafka_produced_bytes", "topic"),
		mErrors:   mgr.Metrics().NewCounter("kafka_produce_errors", "topic"),

		logs:        NewLogLimiter(mgr.Logger(), DefaultLogEvery),
		connBackoff: newRetryBackoff(),
		sizeBackoff: newRetryBackoff(),
		limits:      map[string]int{},
	}

	opts, _, err := connectionOptsFromConfig(conf, mgr.Logger())
	if err != nil {
		return nil, err
	}

	if w.topic, err = conf.FieldInterpolatedString(fieldTopic); err != nil {
		return nil, err
	}
	if conf.Contains(fieldKey) {
		if w.key, err = conf.FieldInterpolatedString(fieldKey); err != nil {
			return nil, err
		}
	}
	if conf.Contains(fieldMetadata) {
		if w.metaFilter, err = conf.FieldMetadataFilter(fieldMetadata); err != nil {
			return nil, err
		}
	}

	partitioner := partitionerMurmur2
	if conf.Contains(fieldPartitioner) {
		if partitioner, err = conf.FieldString(fieldPartitioner); err != nil {
			return nil, err
		}
	}
	if raw, _ := conf.FieldString(fieldPartition); raw != "" {
		if partitioner != partitionerManual {
			return nil, fmt.Errorf("field %s: a partition (%q) cannot be specified unless %s is %q", fieldPartition, raw, fieldPartitioner, partitionerManual)
		}
		if w.partition, err = conf.FieldInterpolatedString(fieldPartition); err != nil {
			return nil, err
		}
	}
	switch partitioner {
	case partitionerMurmur2:
		// Sticky for records without key, murmur2 like the Java client for keyed ones.
		opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	case partitionerRoundRobin:
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case partitionerLeastBackup:
		opts = append(opts, kgo.RecordPartitioner(kgo.LeastBackupPartitioner()))
	case partitionerManual:
		if w.partition == nil {
			return nil, fmt.Errorf("field %s: %q requires the field %s", fieldPartitioner, partitionerManual, fieldPartition)
		}
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	default:
		return nil, fmt.Errorf("field %s: unknown partitioner %q, expected one of %s, %s, %s, %s",
			fieldPartitioner, partitioner, partitionerMurmur2, partitionerRoundRobin, partitionerLeastBackup, partitionerManual)
	}

	if conf.Contains(fieldCompression) {
		c, err := conf.FieldString(fieldCompression)
		if err != nil {
			return nil, err
		}
		var codec kgo.CompressionCodec
		switch c {
		case "none":
			codec = kgo.NoCompression()
		case "gzip":
			codec = kgo.GzipCompression()
		case "snappy":
			codec = kgo.SnappyCompression()
		case "lz4":
			codec = kgo.Lz4Compression()
		case "zstd":
			codec = kgo.ZstdCompression()
		default:
			return nil, fmt.Errorf("field %s: unknown compression %q, expected one of none, gzip, snappy, lz4, zstd", fieldCompression, c)
		}
		opts = append(opts, kgo.ProducerBatchCompression(codec))
	}

	idempotent, err := conf.FieldBool(fieldIdempotentWrite)
	if err != nil {
		return nil, err
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}

	autoCreate, err := conf.FieldBool(fieldAllowAutoTopicCreation)
	if err != nil {
		return nil, err
	}
	if autoCreate {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}

	timeout, err := conf.FieldDuration(fieldTimeout)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("field %s: value %v is invalid, must be positive", fieldTimeout, timeout)
	}
	opts = append(opts, kgo.ProduceRequestTimeout(timeout))

	maxBytes, err := bytesField(conf, fieldMaxMessageBytes, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.ProducerBatchMaxBytes(maxBytes))
	w.maxBytes = int(maxBytes)

	oversized, err := conf.FieldString(fieldOversized)
	if err != nil {
		return nil, err
	}
	switch oversized {
	case oversizedFail:
	case oversizedTruncate:
		w.truncate = true
	default:
		return nil, fmt.Errorf("field %s: unknown value %q, expected %s or %s", fieldOversized, oversized, oversizedFail, oversizedTruncate)
	}

	w.clientOpts = opts
	return w, nil
}

// Connect creates the client and checks that the cluster answers. It is a
// no-op when already connected.
func (w *franzWriter) Connect(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client != nil {
		return nil
	}
	cl, err := kgo.NewClient(w.clientOpts...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	if err := connectCheck(ctx, cl, w.log, "kafka_franz output"); err != nil {
		cl.Close()
		// Benthos retries Connect after the wait we give it and logs each
		// failure: 1s, 2s, 4s ... then every 30s.
		return service.NewErrBackOff(err, w.connBackoff.Next())
	}
	w.connBackoff.Reset()
	w.client = cl
	return nil
}

// WriteBatch produces every message of the batch and returns once the brokers
// acknowledged all of them. Failed messages are reported individually so that
// only they are retried.
func (w *franzWriter) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	w.mu.RLock()
	cl := w.client
	w.mu.RUnlock()
	if cl == nil {
		return service.ErrNotConnected
	}
	if len(batch) == 0 {
		return nil
	}

	records := make([]*kgo.Record, len(batch))
	for i, msg := range batch {
		r, err := w.messageToRecord(msg)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if w.truncate {
			// Cut now what the client would refuse anyway.
			if t, ok := truncateRecord(r, w.maxBytes); ok {
				w.logTruncated(r, t, w.maxBytes, fieldMaxMessageBytes)
				r = t
			}
		}
		records[i] = r
	}

	purgesBefore := w.purges.Load()
	errs := produceAll(ctx, cl, records)
	errs = w.recoverUnknownTopicIDs(ctx, cl, records, errs, purgesBefore)
	if w.truncate {
		w.truncateRefused(ctx, cl, records, errs)
	}

	var bErr *service.BatchError
	tooLarge := 0
	// Counted per run of records of one topic, not per record: an update of
	// a labelled metric costs a lookup of its series.
	var runTopic string
	var runRecords, runBytes int64
	countRun := func() {
		if runRecords > 0 {
			w.mProduced.Incr(runRecords, runTopic)
			w.mBytes.Incr(runBytes, runTopic)
		}
		runRecords, runBytes = 0, 0
	}
	defer countRun()
	for i, err := range errs {
		r := records[i]
		if err == nil {
			if r.Topic != runTopic {
				countRun()
				runTopic = r.Topic
			}
			runRecords++
			runBytes += int64(len(r.Key) + len(r.Value))
			continue
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			return service.ErrNotConnected
		}
		w.mErrors.Incr(1, r.Topic)
		if isTooLarge(err) {
			tooLarge++
			w.logs.Errorf("kafka_franz output: a record of %d bytes (value %d bytes) to topic %s is larger than the limit (%s: %d bytes, and the topic's max.message.bytes on the broker): %v. "+
				"It is retried with back-off and will never fit as it is: raise the limits, or set %s: %s to write it cut to size",
				recordSize(r), len(r.Value), r.Topic, fieldMaxMessageBytes, w.maxBytes, err, fieldOversized, oversizedTruncate)
		}
		err = fmt.Errorf("produce to topic %s partition %d: %w", r.Topic, r.Partition, err)
		if bErr == nil {
			bErr = service.NewBatchError(batch, err)
		}
		bErr.Failed(i, err)
	}
	if tooLarge > 0 {
		// Benthos sends a refused batch again at once: without this wait a
		// record that can never fit would be retried in a busy loop.
		_ = sleepOrDone(ctx, w.sizeBackoff.Next())
	} else {
		w.sizeBackoff.Reset()
	}
	if bErr != nil {
		return bErr
	}
	return nil
}

// produceAll produces every record and waits for all of their results.
func produceAll(ctx context.Context, cl *kgo.Client, records []*kgo.Record) []error {
	errs := make([]error, len(records))
	var wg sync.WaitGroup
	wg.Add(len(records))
	for i, r := range records {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()
	return errs
}

// maxTopicIDRetries bounds how often one batch is produced again after a
// purge; past it the records go back to the pipeline, which retries them.
const maxTopicIDRetries = 3

// recoverUnknownTopicIDs handles a topic that was deleted and created again
// (or a broker that restarted without its data): franz-go keeps the old topic
// ID and fails every record with UNKNOWN_TOPIC_ID until the topic is purged
// from the client. It purges the topics concerned (once, however many batches
// fail at the same time) and produces those records again, to the new topic;
// records that still fail keep their error and are retried by the pipeline.
// No record is reported as written unless the broker acknowledged it.
func (w *franzWriter) recoverUnknownTopicIDs(ctx context.Context, cl *kgo.Client, records []*kgo.Record, errs []error, purgesBefore uint64) []error {
	for range maxTopicIDRetries {
		var again []int
		topics := map[string]bool{}
		for i, err := range errs {
			switch {
			case err == nil:
			case isUnknownTopicID(err):
				topics[records[i].Topic] = true
				again = append(again, i)
			case w.purges.Load() != purgesBefore && !errors.Is(err, kgo.ErrClientClosed) && ctx.Err() == nil:
				// Failed by a purge that another batch made ("topic purged
				// while buffered").
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			return errs
		}
		if len(topics) > 0 {
			w.purgeMu.Lock()
			if w.purges.Load() == purgesBefore {
				names := slices.Sorted(maps.Keys(topics))
				cl.PurgeTopicsFromProducing(names...)
				w.purges.Add(1)
				w.logs.Warnf("kafka_franz output: topic %s was deleted and created again, or the broker lost it (UNKNOWN_TOPIC_ID): forgetting its old ID and writing the records that failed to the new topic", strings.Join(names, ", "))
			}
			w.purgeMu.Unlock()
		}
		purgesBefore = w.purges.Load()
		retry := make([]*kgo.Record, len(again))
		for j, i := range again {
			retry[j] = copyRecord(records[i])
		}
		for j, err := range produceAll(ctx, cl, retry) {
			i := again[j]
			records[i], errs[i] = retry[j], err
		}
	}
	return errs
}

// copyRecord is a fresh record with r's content, to produce again.
func copyRecord(r *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Partition: r.Partition}
}

// truncateRefused writes again, cut to fit, the records that the broker
// refused as too large although they fit max_message_bytes: the topic's own
// max.message.bytes is smaller. Each goes alone, so that no batch of several
// records can be too large again.
func (w *franzWriter) truncateRefused(ctx context.Context, cl *kgo.Client, records []*kgo.Record, errs []error) {
	for i, err := range errs {
		if !isTooLarge(err) {
			continue
		}
		r := records[i]
		limit := w.topicLimit(ctx, cl, r.Topic, recordSize(r))
		rec := copyRecord(r)
		if t, ok := truncateRecord(r, limit); ok {
			w.logTruncated(r, t, limit, "the topic's max.message.bytes")
			rec = t
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			errs[i] = err
			continue
		}
		records[i], errs[i] = rec, nil
	}
}

// topicLimit is the largest record batch the broker accepts for topic: its
// max.message.bytes, asked once and remembered. When the broker does not
// tell, half of refused (the size of the record it refused) is tried.
func (w *franzWriter) topicLimit(ctx context.Context, cl *kgo.Client, topic string, refused int) int {
	w.limitsMu.Lock()
	limit, ok := w.limits[topic]
	w.limitsMu.Unlock()
	if !ok {
		if rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic); err == nil {
			if rc, err := rcs.On(topic, nil); err == nil && rc.Err == nil {
				for _, c := range rc.Configs {
					if c.Key != "max.message.bytes" || c.Value == nil {
						continue
					}
					if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
						limit, ok = n, true
					}
				}
			}
		}
		if ok {
			w.limitsMu.Lock()
			w.limits[topic] = limit
			w.limitsMu.Unlock()
		}
	}
	if !ok {
		return min(w.maxBytes, refused/2)
	}
	return min(w.maxBytes, limit)
}

func (w *franzWriter) logTruncated(orig, cut *kgo.Record, limit int, what string) {
	w.logs.Warnf("kafka_franz output: a record to topic %s of %d bytes (value %d bytes) is larger than %s (%d bytes): writing it with its value cut to %d bytes and the header %s: true",
		orig.Topic, recordSize(orig), len(orig.Value), what, limit, len(cut.Value), headerTruncated)
}

// recordBatchOverhead is the size of a record batch around its records (see
// franz-go's sink.go); varintMax the most bytes of one varint.
const (
	recordBatchOverhead = 65
	varintMax           = 5
)

// recordSize is an upper bound of the bytes r takes alone in a record batch,
// as franz-go and the broker count them against max.message.bytes.
func recordSize(r *kgo.Record) int {
	n := recordBatchOverhead +
		varintMax + // record length
		1 + // attributes
		2*varintMax + // timestamp delta (a varlong) and offset delta
		varintMax + len(r.Key) +
		varintMax + len(r.Value) +
		varintMax // header count
	for _, h := range r.Headers {
		n += 2*varintMax + len(h.Key) + len(h.Value)
	}
	return n
}

// truncateRecord returns a copy of r whose value is cut so that the record,
// with the headers kafka_truncated and kafka_original_size added, fits in
// limit bytes. It returns false when r already fits, or when its key and
// headers alone do not fit (nothing to cut then: the record fails as it is).
func truncateRecord(r *kgo.Record, limit int) (*kgo.Record, bool) {
	if recordSize(r) <= limit {
		return nil, false
	}
	t := copyRecord(r)
	t.Headers = append(slices.Clip(r.Headers),
		kgo.RecordHeader{Key: headerTruncated, Value: []byte("true")},
		kgo.RecordHeader{Key: headerOriginalSize, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)},
	)
	t.Value = nil
	room := limit - recordSize(t)
	if room < 0 {
		return nil, false
	}
	cut := r.Value[:room]
	// Do not end inside a UTF-8 sequence: the value is text more often than not.
	for len(cut) > 0 && len(cut) < len(r.Value) && !utf8.RuneStart(r.Value[len(cut)]) {
		cut = cut[:len(cut)-1]
	}
	t.Value = cut
	return t, true
}

func (w *franzWriter) messageToRecord(msg *service.Message) (*kgo.Record, error) {
	value, err := msg.AsBytes()
	if err != nil {
		return nil, fmt.Errorf("read message content: %w", err)
	}
	r := &kgo.Record{Value: value}
	if r.Topic, err = w.topic.TryString(msg); err != nil {
		return nil, fmt.Errorf("interpolate %s: %w", fieldTopic, err)
	}
	if r.Topic == "" {
		return nil, fmt.Errorf("interpolate %s: the topic is empty", fieldTopic)
	}
	if w.key != nil {
		if r.Key, err = w.key.TryBytes(msg); err != nil {
			return nil, fmt.Errorf("interpolate %s: %w", fieldKey, err)
		}
	}
	if w.partition != nil {
		s, err := w.partition.TryString(msg)
		if err != nil {
			return nil, fmt.Errorf("interpolate %s: %w", fieldPartition, err)
		}
		p, err := strconv.ParseInt(s, 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("field %s: %q is not a partition number", fieldPartition, s)
		}
		r.Partition = int32(p)
	}
	if w.metaFilter != nil {
		_ = w.metaFilter.Walk(msg, func(k, v string) error {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			return nil
		})
	}
	return r, nil
}

// Close flushes nothing on purpose: WriteBatch already waited for every
// record, so closing only releases the connections.
func (w *franzWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	cl := w.client
	w.client = nil
	w.mu.Unlock()
	if cl == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		cl.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
