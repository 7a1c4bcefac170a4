package aggregate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// stateFormatVersion changes whenever the layout below changes meaning; a
// state of another version is refused, never migrated silently.
const stateFormatVersion = 1

// StateFileName is the bbolt file inside state_dir.
const StateFileName = "sales_aggregate.db"

// Layout of the state file (format version 1):
//
//	meta      format_version, topics (JSON array, sorted), state_id,
//	          pedidos, rejeitados (int64 big-endian)
//	produtos  name -> units, orders, value in centavos (3 × int64 big-endian)
//	offsets   topic 0x00 partition (int32 big-endian) -> last applied offset
//	outbox    id (uint64 big-endian) -> a rejected record not yet delivered
var (
	bucketMeta     = []byte("meta")
	bucketProducts = []byte("produtos")
	bucketOffsets  = []byte("offsets")
	bucketOutbox   = []byte("outbox")

	keyVersion  = []byte("format_version")
	keyTopics   = []byte("topics")
	keyStateID  = []byte("state_id")
	keyOrders   = []byte("pedidos")
	keyRejected = []byte("rejeitados")
)

// store is the durable state of one sales_aggregate.
type store struct {
	db    *bolt.DB
	dir   string
	arena []byte // keys and values of the transaction being written
}

// loadedState is what a store holds when it is opened.
type loadedState struct {
	products     []ProductTotals
	offsets      []offsetEntry
	orders       int64
	rejected     int64
	outbox       []*rejectedRecord
	nextOutboxID uint64
}

// openStore opens or creates the state in dir. A state written for other
// topics, another state_id or another format version is refused.
func openStore(dir string, topics []string, stateID string) (*store, *loadedState, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("creating state_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, StateFileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, nil, fmt.Errorf("opening state %s: in use by another process", path)
		}
		return nil, nil, fmt.Errorf("opening state %s: %w", path, err)
	}
	s := &store{db: db, dir: dir}
	st, err := s.init(topics, stateID)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return s, st, nil
}

func sortedTopics(topics []string) []string {
	t := slices.Clone(topics)
	slices.Sort(t)
	return slices.Compact(t)
}

func (s *store) init(topics []string, stateID string) (*loadedState, error) {
	topicsJSON, err := json.Marshal(sortedTopics(topics))
	if err != nil {
		return nil, err
	}
	st := &loadedState{}
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return s.create(tx, topicsJSON, stateID)
		}
		if err := s.check(meta, topicsJSON, stateID); err != nil {
			return err
		}
		return s.load(tx, st)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *store) create(tx *bolt.Tx, topicsJSON []byte, stateID string) error {
	for _, name := range [][]byte{bucketProducts, bucketOffsets, bucketOutbox} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("creating state in %s: %w", s.dir, err)
		}
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return fmt.Errorf("creating state in %s: %w", s.dir, err)
	}
	for _, kv := range [][2][]byte{
		{keyVersion, []byte(strconv.Itoa(stateFormatVersion))},
		{keyTopics, topicsJSON},
		{keyStateID, []byte(stateID)},
		{keyOrders, be64(0)},
		{keyRejected, be64(0)},
	} {
		if err := meta.Put(kv[0], kv[1]); err != nil {
			return fmt.Errorf("creating state in %s: %w", s.dir, err)
		}
	}
	return nil
}

func (s *store) check(meta *bolt.Bucket, topicsJSON []byte, stateID string) error {
	v := meta.Get(keyVersion)
	if v == nil {
		return fmt.Errorf("state in %s: no format version, not a sales_aggregate state; use an empty state_dir", s.dir)
	}
	if string(v) != strconv.Itoa(stateFormatVersion) {
		return fmt.Errorf("state in %s has format version %s but this build reads version %d; refusing to mix them: use another state_dir or a matching build", s.dir, v, stateFormatVersion)
	}
	if t := meta.Get(keyTopics); !bytes.Equal(t, topicsJSON) {
		return fmt.Errorf("state in %s was built from topics %s but this config reads topics %s; refusing to mix them: use another state_dir", s.dir, t, topicsJSON)
	}
	if id := meta.Get(keyStateID); string(id) != stateID {
		return fmt.Errorf("state in %s has state_id %q but this config has state_id %q; refusing to mix them: use another state_dir", s.dir, id, stateID)
	}
	for _, name := range [][]byte{bucketProducts, bucketOffsets, bucketOutbox} {
		if meta.Tx().Bucket(name) == nil {
			return fmt.Errorf("state in %s is damaged: bucket %s is missing", s.dir, name)
		}
	}
	return nil
}

func (s *store) load(tx *bolt.Tx, st *loadedState) error {
	meta := tx.Bucket(bucketMeta)
	var err error
	if st.orders, err = readBE64(meta.Get(keyOrders)); err != nil {
		return fmt.Errorf("state in %s is damaged: %s: %w", s.dir, keyOrders, err)
	}
	if st.rejected, err = readBE64(meta.Get(keyRejected)); err != nil {
		return fmt.Errorf("state in %s is damaged: %s: %w", s.dir, keyRejected, err)
	}
	err = tx.Bucket(bucketProducts).ForEach(func(k, v []byte) error {
		if len(v) != 24 {
			return fmt.Errorf("product %q: value of %d bytes, want 24", k, len(v))
		}
		st.products = append(st.products, ProductTotals{
			Name:   string(k),
			Units:  int64(binary.BigEndian.Uint64(v)),
			Orders: int64(binary.BigEndian.Uint64(v[8:])),
			Value:  order.Cents(binary.BigEndian.Uint64(v[16:])),
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("state in %s is damaged: %w", s.dir, err)
	}
	err = tx.Bucket(bucketOffsets).ForEach(func(k, v []byte) error {
		sep := bytes.IndexByte(k, 0)
		if sep < 0 || len(k) != sep+5 || len(v) != 8 {
			return fmt.Errorf("offset key %q: malformed", k)
		}
		st.offsets = append(st.offsets, offsetEntry{
			key:    TopicPartition{Topic: string(k[:sep]), Partition: int32(binary.BigEndian.Uint32(k[sep+1:]))},
			offset: int64(binary.BigEndian.Uint64(v)),
		})
		return nil
	})
	if err != nil {
		return fmt.Errorf("state in %s is damaged: %w", s.dir, err)
	}
	err = tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("outbox key %x: malformed", k)
		}
		r, err := decodeRejected(v)
		if err != nil {
			return fmt.Errorf("outbox record %x: %w", k, err)
		}
		r.id = binary.BigEndian.Uint64(k)
		st.outbox = append(st.outbox, r)
		st.nextOutboxID = r.id + 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("state in %s is damaged: %w", s.dir, err)
	}
	return nil
}

// commit writes a delta in one transaction, fsynced before it returns.
func (s *store) commit(d *commitDelta) error {
	s.arena = s.arena[:0]
	// bbolt keeps the key and value slices until the transaction ends, so
	// each gets its own span of the arena; growing the arena leaves earlier
	// spans in the old array, which stays valid.
	span := func(start int) []byte { return s.arena[start:len(s.arena):len(s.arena)] }
	return s.db.Update(func(tx *bolt.Tx) error {
		products := tx.Bucket(bucketProducts)
		for i := range d.products {
			p := &d.products[i]
			k0 := len(s.arena)
			s.arena = append(s.arena, p.Name...)
			k := span(k0)
			v0 := len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(p.Units))
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(p.Orders))
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(p.Value))
			if err := products.Put(k, span(v0)); err != nil {
				return fmt.Errorf("writing product %q: %w", p.Name, err)
			}
		}
		offsets := tx.Bucket(bucketOffsets)
		for _, e := range d.offsets {
			k0 := len(s.arena)
			s.arena = append(s.arena, e.key.Topic...)
			s.arena = append(s.arena, 0)
			s.arena = binary.BigEndian.AppendUint32(s.arena, uint32(e.key.Partition))
			k := span(k0)
			v0 := len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(e.offset))
			if err := offsets.Put(k, span(v0)); err != nil {
				return fmt.Errorf("writing offset of %s/%d: %w", e.key.Topic, e.key.Partition, err)
			}
		}
		if d.counts {
			meta := tx.Bucket(bucketMeta)
			v0 := len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(d.orders))
			if err := meta.Put(keyOrders, span(v0)); err != nil {
				return fmt.Errorf("writing %s: %w", keyOrders, err)
			}
			v0 = len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, uint64(d.rejected))
			if err := meta.Put(keyRejected, span(v0)); err != nil {
				return fmt.Errorf("writing %s: %w", keyRejected, err)
			}
		}
		outbox := tx.Bucket(bucketOutbox)
		for _, r := range d.outbox {
			k0 := len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, r.id)
			k := span(k0)
			v0 := len(s.arena)
			s.arena = r.appendEncoded(s.arena)
			if err := outbox.Put(k, span(v0)); err != nil {
				return fmt.Errorf("writing rejected record to the outbox: %w", err)
			}
		}
		for _, id := range d.deletes {
			k0 := len(s.arena)
			s.arena = binary.BigEndian.AppendUint64(s.arena, id)
			if err := outbox.Delete(span(k0)); err != nil {
				return fmt.Errorf("deleting delivered record from the outbox: %w", err)
			}
		}
		return nil
	})
}

// reload reads the committed state again, after a failed commit left the
// in-memory totals ahead of the disk.
func (s *store) reload() (*loadedState, error) {
	st := &loadedState{}
	err := s.db.View(func(tx *bolt.Tx) error { return s.load(tx, st) })
	return st, err
}

func (s *store) close() error { return s.db.Close() }

func be64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

func readBE64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("value of %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// rejectedRecord is an invalid record on its way to the output: its original
// bytes, its metadata and why it was refused.
type rejectedRecord struct {
	id     uint64 // outbox key; 0 in memory mode
	data   []byte
	meta   []metaPair
	reason string
}

type metaPair struct{ key, value string }

// appendEncoded writes reason, metadata pairs, then the content, each string
// prefixed with its length as a uvarint.
func (r *rejectedRecord) appendEncoded(dst []byte) []byte {
	str := func(dst []byte, s string) []byte {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		return append(dst, s...)
	}
	dst = str(dst, r.reason)
	dst = binary.AppendUvarint(dst, uint64(len(r.meta)))
	for _, kv := range r.meta {
		dst = str(dst, kv.key)
		dst = str(dst, kv.value)
	}
	return append(dst, r.data...)
}

var errTruncated = errors.New("truncated")

func decodeRejected(b []byte) (*rejectedRecord, error) {
	str := func() (string, error) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return "", errTruncated
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, nil
	}
	r := &rejectedRecord{}
	var err error
	if r.reason, err = str(); err != nil {
		return nil, err
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, errTruncated
	}
	b = b[w:]
	r.meta = make([]metaPair, n)
	for i := range r.meta {
		if r.meta[i].key, err = str(); err != nil {
			return nil, err
		}
		if r.meta[i].value, err = str(); err != nil {
			return nil, err
		}
	}
	r.data = bytes.Clone(b)
	if r.data == nil {
		r.data = []byte{}
	}
	return r, nil
}
