package kafka

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

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

While brokers are unreachable the client keeps retrying internally and writes block (applying back pressure) until the cluster is back.

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

	mu     sync.RWMutex
	client *kgo.Client
}

func newFranzWriterFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*franzWriter, error) {
	w := &franzWriter{
		log:       mgr.Logger(),
		mProduced: mgr.Metrics().NewCounter("kafka_produced_records", "topic"),
		mBytes:    mgr.Metrics().NewCounter("kafka_produced_bytes", "topic"),
		mErrors:   mgr.Metrics().NewCounter("kafka_produce_errors", "topic"),
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
	if err := pingClient(ctx, cl); err != nil {
		cl.Close()
		return err
	}
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
		records[i] = r
	}

	errs := make([]error, len(records))
	var wg sync.WaitGroup
	wg.Add(len(records))
	for i, r := range records {
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()

	var bErr *service.BatchError
	for i, err := range errs {
		r := records[i]
		if err == nil {
			w.mProduced.Incr(1, r.Topic)
			w.mBytes.Incr(int64(len(r.Key)+len(r.Value)), r.Topic)
			continue
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			return service.ErrNotConnected
		}
		w.mErrors.Incr(1, r.Topic)
		err = fmt.Errorf("produce to topic %s partition %d: %w", r.Topic, r.Partition, err)
		if bErr == nil {
			bErr = service.NewBatchError(batch, err)
		}
		bErr.Failed(i, err)
	}
	if bErr != nil {
		return bErr
	}
	return nil
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
