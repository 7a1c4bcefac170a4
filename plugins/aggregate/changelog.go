package aggregate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// stateFormatVersion changes whenever a changelog record changes meaning; a
// record of another version is refused, never read as if it were this one.
const stateFormatVersion = 2

// changelogMaxBytes is the largest changelog record: the state of one
// partition with every product it may hold (maxProducts names of up to 800
// bytes each, with their numbers, about 9 MiB), far above what a real
// catalog needs. The topic is created with it as max.message.bytes.
const changelogMaxBytes = 16 << 20

// maxProducts bounds the field max_products.
const maxProducts = 10000

// partitionState is the durable record of one partition in the changelog
// topic: everything counted from the partition's first offset up to (not
// including) Next. It is a function of those records alone, so a state
// written by any member, even one that lost the partition without noticing,
// is a correct state: a later owner that starts from it counts the rest once.
type partitionState struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
	// Next is the next offset to count.
	Next int64
	// DLQFrom is the lowest offset whose rejected record may not have
	// reached the output yet: a new owner reads from here, counting
	// nothing below Next again, and emits the rejected records again.
	DLQFrom  int64
	Orders   int64
	Rejected int64
	Products []ProductTotals
	// Since is, per product, the offset of the record that first counted
	// it: what max_products decides again for a record read after a restore.
	Since []int64
	// Writer names the member that wrote it (host/pid).
	Writer    string
	WrittenAt time.Time

	// With windows (WindowSpec not empty): the spec they were counted
	// with, the greatest event time counted (noTime: none), how far the
	// writer had closed windows, the partition's windows, the windows the
	// writer had emitted, and the offsets of records rejected as too old
	// that may not have reached the output.
	WindowSpec string
	MaxEvent   int64
	Closed     int64
	Windows    []stateWindow
	Marks      []stateMark
	TooOld     []int64
	// With dedupe: the offset of the oldest id remembered (-1: no dedupe),
	// and how many orders were not counted as copies.
	DedupeFrom int64
	Duplicates int64
	// DedupeMax is the partition's greatest event time before DedupeFrom
	// (noTime: none).
	DedupeMax int64
}

func (s *partitionState) tp() TopicPartition { return TopicPartition{s.Topic, s.Partition} }

// changelogKey is the key of a partition's records: topic/partition. Topic
// names cannot contain '/'.
func changelogKey(tp TopicPartition) string {
	return tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

// appendState writes s as the JSON value of a changelog record.
func appendState(dst []byte, s *partitionState) []byte {
	dst = append(dst, `{"versao":`...)
	dst = strconv.AppendInt(dst, stateFormatVersion, 10)
	dst = append(dst, `,"topico":`...)
	dst = order.AppendString(dst, s.Topic)
	dst = append(dst, `,"topic_id":"`...)
	dst = hex.AppendEncode(dst, s.TopicID[:])
	dst = append(dst, `","particao":`...)
	dst = strconv.AppendInt(dst, int64(s.Partition), 10)
	dst = append(dst, `,"proximo_offset":`...)
	dst = strconv.AppendInt(dst, s.Next, 10)
	dst = append(dst, `,"dlq_desde":`...)
	dst = strconv.AppendInt(dst, s.DLQFrom, 10)
	dst = append(dst, `,"pedidos":`...)
	dst = strconv.AppendInt(dst, s.Orders, 10)
	dst = append(dst, `,"rejeitados":`...)
	dst = strconv.AppendInt(dst, s.Rejected, 10)
	dst = append(dst, `,"produtos":[`...)
	for i := range s.Products {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendProductJSON(dst, &s.Products[i])
		if i < len(s.Since) {
			dst = dst[:len(dst)-1]
			dst = append(dst, `,"desde":`...)
			dst = strconv.AppendInt(dst, s.Since[i], 10)
			dst = append(dst, '}')
		}
	}
	dst = append(dst, ']')
	if s.WindowSpec != "" {
		dst = appendStateWindows(dst, s)
	}
	dst = append(dst, `,"escrito_por":`...)
	dst = order.AppendString(dst, s.Writer)
	dst = append(dst, `,"escrito_em":"`...)
	dst = s.WrittenAt.In(order.SaoPaulo).AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `"}`...)
	return dst
}

type stateProductDoc struct {
	productDoc
	Desde int64 `json:"desde"`
}

type stateDoc struct {
	Versao        int               `json:"versao"`
	Topico        string            `json:"topico"`
	TopicID       string            `json:"topic_id"`
	Particao      int32             `json:"particao"`
	ProximoOffset int64             `json:"proximo_offset"`
	DLQDesde      int64             `json:"dlq_desde"`
	Pedidos       int64             `json:"pedidos"`
	Rejeitados    int64             `json:"rejeitados"`
	Produtos      []stateProductDoc `json:"produtos"`
	EscritoPor    string            `json:"escrito_por"`
	EscritoEm     string            `json:"escrito_em"`

	Janela       string        `json:"janela"`
	EventoMax    *int64        `json:"evento_max"`
	FechadasAte  *int64        `json:"fechadas_ate"`
	Janelas      []stateWinDoc `json:"janelas"`
	Emitidas     [][3]int64    `json:"emitidas"`
	Antigos      []int64       `json:"antigos"`
	DedupeDesde  *int64        `json:"dedupe_desde"`
	DedupeEvento *int64        `json:"dedupe_evento"`
	Duplicados   int64         `json:"duplicados"`
}

// parseState reads a changelog record's value.
func parseState(data []byte) (*partitionState, error) {
	var doc stateDoc
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc.Versao != stateFormatVersion {
		return nil, fmt.Errorf("format version %d, this build reads version %d", doc.Versao, stateFormatVersion)
	}
	s := &partitionState{
		Topic: doc.Topico, Partition: doc.Particao, Next: doc.ProximoOffset, DLQFrom: doc.DLQDesde,
		Orders: doc.Pedidos, Rejected: doc.Rejeitados, Writer: doc.EscritoPor,
	}
	if n, err := hex.Decode(s.TopicID[:], []byte(doc.TopicID)); err != nil || n != 16 {
		return nil, fmt.Errorf("topic_id %q is not 16 bytes of hex", doc.TopicID)
	}
	if s.Topic == "" || s.Partition < 0 || s.Next < 0 || s.DLQFrom < 0 || s.DLQFrom > s.Next || s.Orders < 0 || s.Rejected < 0 {
		return nil, fmt.Errorf("inconsistent numbers (partition %d, proximo_offset %d, dlq_desde %d, pedidos %d, rejeitados %d)",
			s.Partition, s.Next, s.DLQFrom, s.Orders, s.Rejected)
	}
	if doc.EscritoEm != "" {
		t, err := time.Parse(time.RFC3339Nano, doc.EscritoEm)
		if err != nil {
			return nil, fmt.Errorf("escrito_em: %w", err)
		}
		s.WrittenAt = t
	}
	s.Products = make([]ProductTotals, len(doc.Produtos))
	s.Since = make([]int64, len(doc.Produtos))
	for i, p := range doc.Produtos {
		s.Since[i] = p.Desde
		v, err := order.ParseSum([]byte(p.ValorTotal))
		if err != nil {
			return nil, fmt.Errorf("produtos[%d].valor_total %q: %w", i, p.ValorTotal, err)
		}
		if p.Quantidade < 0 || p.Pedidos < 0 || v < 0 {
			return nil, fmt.Errorf("produtos[%d] (%q): negative totals (quantidade %d, pedidos %d, valor_total %s)", i, p.Produto, p.Quantidade, p.Pedidos, p.ValorTotal)
		}
		s.Products[i] = ProductTotals{Name: p.Produto, Units: p.Quantidade, Orders: p.Pedidos, Value: v}
	}
	if err := parseStateWindows(&doc, s); err != nil {
		return nil, err
	}
	return s, nil
}

// changelog is the compacted topic that holds the state of every partition
// of the counted topics, one record per partition and commit. Every member
// reads all of it all the time: a new owner restores a partition from it, and
// the snapshots show the partitions other members own from it.
type changelog struct {
	topic string
	cl    *kgo.Client
	adm   *kadm.Client
	log   *service.Logger
	limit *kafka.LogLimiter

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	states   map[TopicPartition]*partitionState // the most advanced state read
	consumed map[int32]int64                    // next offset read, per changelog partition
	err      error                              // the reader stopped
	onUpdate func(*partitionState, bool)
	// written holds the states this member writes, per key in the order
	// written, until they are read back: reading one back then needs no
	// parsing (most of the reading's cost, a tenth of a consumer's CPU)
	// when the record is byte for byte one written.
	written map[string][]writtenState
	parsed  int64 // state records parsed, for tests

	bufs [][]byte
}

// writtenState is a state this member wrote and the record value it wrote.
type writtenState struct {
	s     *partitionState
	value []byte
}

// openChangelog connects, creates the topic when it is missing (compacted)
// and starts reading it from the beginning.
// onUpdate is called, outside the changelog's lock, with every state record
// read and whether it is now the partition's most advanced.
func openChangelog(ctx context.Context, connOpts []kgo.Opt, topic string, partitions int32, log *service.Logger, onUpdate func(*partitionState, bool)) (*changelog, error) {
	opts := slices.Concat(connOpts, []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerBatchMaxBytes(changelogMaxBytes),
		// Uncompressed: lz4's writer takes 4 MiB blocks, a tenth of the
		// consumer's memory, for records of a few KiB.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0),
		kgo.FetchMaxPartitionBytes(changelogMaxBytes),
		kgo.MetadataMinAge(changelogMetadataAge),
	})
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: creating a client: %w", topic, err)
	}
	c := &changelog{
		topic:    topic,
		cl:       cl,
		adm:      kadm.NewClient(cl),
		log:      log,
		limit:    kafka.NewLogLimiter(log, kafka.DefaultLogEvery),
		done:     make(chan struct{}),
		states:   map[TopicPartition]*partitionState{},
		consumed: map[int32]int64{},
		onUpdate: onUpdate,
		written:  map[string][]writtenState{},
	}
	c.cond = sync.NewCond(&c.mu)
	if err := c.create(ctx, partitions); err != nil {
		cl.Close()
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.read()
	return c, nil
}

// create makes the topic compacted, with room for the largest state record.
func (c *changelog) create(ctx context.Context, partitions int32) error {
	_, err := c.adm.CreateTopic(ctx, max(partitions, 1), -1, map[string]*string{
		"cleanup.policy":    kadm.StringPtr("compact"),
		"max.message.bytes": kadm.StringPtr(strconv.Itoa(changelogMaxBytes)),
	}, c.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("state topic %s: creating it: %w", c.topic, err)
	}
	if err != nil {
		// Made by someone else: a state topic that deletes old records
		// would lose a quiet partition's state, and its totals with it.
		if err := c.checkCompacted(ctx); err != nil {
			return err
		}
	}
	// A topic just created is not in every broker's metadata at once.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		ends, err := c.adm.ListEndOffsets(ctx, c.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state topic %s: waiting for it to be usable: %w", c.topic, err)
		case <-time.After(wait):
		}
	}
}

// errNotCompacted is permanent: no retry makes the topic compacted.
var errNotCompacted = errors.New("is not compacted")

// checkCompacted refuses an existing state topic whose cleanup.policy does
// not compact.
func (c *changelog) checkCompacted(ctx context.Context) error {
	rcs, err := c.adm.DescribeTopicConfigs(ctx, c.topic)
	if err != nil {
		return fmt.Errorf("state topic %s: reading its configuration: %w", c.topic, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return fmt.Errorf("state topic %s: reading its configuration: %w", c.topic, rc.Err)
		}
		for _, cf := range rc.Configs {
			if cf.Key == "cleanup.policy" && cf.Value != nil && !strings.Contains(*cf.Value, "compact") {
				return fmt.Errorf("state topic %s %w (cleanup.policy=%s): old states would be deleted and their partitions counted again from what is left; delete it (vendas-connect reset-state) or set cleanup.policy=compact",
					c.topic, errNotCompacted, *cf.Value)
			}
		}
	}
	return nil
}

// read follows the changelog for as long as it is open.
func (c *changelog) read() {
	defer close(c.done)
	for {
		fetches := c.cl.PollFetches(c.ctx)
		if c.ctx.Err() != nil {
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
				return
			}
			c.limit.Errorf("Reading state topic %s partition %d (retrying; repeats are logged once a minute): %v", c.topic, p, err)
		})
		type seen struct {
			s    *partitionState
			kept bool
		}
		var read []seen
		c.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) {
			c.consumed[r.Partition] = r.Offset + 1
			if s, kept := c.applyLocked(r); s != nil {
				read = append(read, seen{s, kept})
			}
		})
		c.cond.Broadcast()
		c.mu.Unlock()
		for _, r := range read {
			c.onUpdate(r.s, r.kept)
		}
	}
}

// applyLocked keeps r's state if it is the most advanced one of its
// partition. Any record of the changelog is a correct state; the most
// advanced saves the most work.
func (c *changelog) applyLocked(r *kgo.Record) (*partitionState, bool) {
	if r.Value == nil {
		return nil, false
	}
	if ws := c.written[string(r.Key)]; len(ws) > 0 {
		// A key's records are read in the order they were written: those
		// before the one read back will not come (their write failed).
		for i, w := range ws {
			if bytes.Equal(w.value, r.Value) {
				if rest := ws[i+1:]; len(rest) > 0 {
					c.written[string(r.Key)] = rest
				} else {
					delete(c.written, string(r.Key))
				}
				return c.keepLocked(w.s)
			}
		}
	}
	c.parsed++
	s, err := parseState(r.Value)
	if err != nil {
		c.log.Errorf("State topic %s partition %d offset %d (key %q): not a state record this build reads, ignoring it: %v", c.topic, r.Partition, r.Offset, r.Key, err)
		return nil, false
	}
	return c.keepLocked(s)
}

// keepLocked keeps s if it is its partition's most advanced state.
func (c *changelog) keepLocked(s *partitionState) (*partitionState, bool) {
	tp := s.tp()
	if old := c.states[tp]; old != nil && old.TopicID == s.TopicID && old.Next > s.Next {
		return s, false
	}
	c.states[tp] = s
	return s, true
}

// caughtUp waits until everything written to the changelog before the call
// has been read.
func (c *changelog) caughtUp(ctx context.Context) error {
	ends, err := listFresh(ctx, c.adm.ListEndOffsets, c.topic, staleMetadataFor)
	if err != nil {
		return fmt.Errorf("state topic %s: listing its end offsets: %w", c.topic, err)
	}
	starts, err := listFresh(ctx, c.adm.ListStartOffsets, c.topic, staleMetadataFor)
	if err != nil {
		return fmt.Errorf("state topic %s: listing its start offsets: %w", c.topic, err)
	}
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			start, _ := starts.Lookup(o.Topic, o.Partition)
			if o.Offset > start.Offset && c.consumed[o.Partition] < o.Offset {
				behind = true
			}
		})
		if !behind {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("state topic %s: reading it to its end: %w", c.topic, err)
		}
		c.cond.Wait()
	}
}

// state returns a copy of the most advanced state read for tp, or nil.
func (c *changelog) state(tp TopicPartition) *partitionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.states[tp]
	if s == nil {
		return nil
	}
	cp := *s
	return &cp
}

// each calls fn with every state read, under the changelog's lock.
func (c *changelog) each(fn func(*partitionState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.states {
		fn(s)
	}
}

// write produces states and returns once the broker has them all. franz-go
// retries what can be retried, without a deadline, so an error here is one
// that retrying will not cure (too large, not authorised).
func (c *changelog) write(ctx context.Context, states []*partitionState) error {
	recs := make([]*kgo.Record, len(states))
	for len(c.bufs) < len(states) {
		c.bufs = append(c.bufs, nil)
	}
	c.mu.Lock()
	for i, s := range states {
		c.bufs[i] = appendState(c.bufs[i][:0], s)
		key := changelogKey(s.tp())
		recs[i] = &kgo.Record{Topic: c.topic, Key: []byte(key), Value: c.bufs[i]}
		// Remembered before the broker has it, so that reading it back
		// cannot come first. States are not changed after a write.
		ws := c.written[key]
		if len(ws) >= maxWrittenPerKey {
			ws = ws[1:] // its write failed or it was compacted away unread
		}
		c.written[key] = append(ws, writtenState{s, bytes.Clone(c.bufs[i])})
	}
	c.mu.Unlock()
	if err := c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing to state topic %s: %w", c.topic, err)
	}
	return nil
}

// changelogMetadataAge is how long the state client keeps a metadata answer
// (kgo.MetadataMinAge), counted from when it stored it.
const changelogMetadataAge = time.Second

// staleMetadataFor is how long listFresh retries a topic that looks unknown:
// an answer the broker gave just before the state topic was created can be
// served for changelogMetadataAge after create found the topic usable (seen
// once under load: UNKNOWN_TOPIC_OR_PARTITION from the first assignment).
const staleMetadataFor = 3 * changelogMetadataAge

// listFresh lists a topic's offsets, retrying with back-off for at most
// window the errors Kafka calls retriable (an unknown topic or partition, a
// leader moving), which a topic just created gives for a moment. Other
// errors, and one that lasts past window, are returned: a state topic
// deleted under a running consumer is not waited for in silence.
func listFresh(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string, window time.Duration) (kadm.ListedOffsets, error) {
	deadline := time.Now().Add(window)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		listed, err := list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err == nil || !kerr.IsRetriable(err) || !time.Now().Add(wait).Before(deadline) {
			return listed, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// maxWrittenPerKey bounds the states of a partition remembered while they
// are not read back yet; beyond it the oldest is parsed when it comes.
const maxWrittenPerKey = 8

// offsets returns the first and the end offset of every partition of topic.
func (c *changelog) offsets(ctx context.Context, topic string) (starts, ends kadm.ListedOffsets, err error) {
	if starts, err = c.adm.ListStartOffsets(ctx, topic); err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the start offsets of topic %s: %w", topic, err)
	}
	if ends, err = c.adm.ListEndOffsets(ctx, topic); err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing the end offsets of topic %s: %w", topic, err)
	}
	return starts, ends, nil
}

func (c *changelog) close() {
	c.cancel()
	<-c.done
	c.cl.Close()
}
