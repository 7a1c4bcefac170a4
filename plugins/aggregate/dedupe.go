package aggregate

// dedupeSet remembers the id_ordem of the orders a partition counted, within
// the watermark's horizon, so that an order sent again (an upstream that
// retries at the application level) is counted once, as Spark's
// dropDuplicatesWithinWatermark. The same id_ordem lands in the same
// partition when the producer keys records by it, as produce.yaml does.
//
// IDs are kept as 64-bit hashes with this process's seed and are never
// stored: after a restore they are remembered again by reading the
// partition from the offset of the oldest one still remembered (dedupe_desde
// in the state record), the way the rejected records are emitted again.
type dedupeSet struct {
	ids map[uint64]int64 // id hash → expiry (event time, Unix seconds)
	// queue holds the IDs in offset order; ring[head:] are live.
	queue []dedupeEntry
	head  int
	// dups counts the orders not counted because their id was remembered.
	dups int64
}

type dedupeEntry struct {
	hash        uint64
	off, expiry int64
	// maxBefore is the partition's greatest event time counted before this
	// record: where a replay from off starts its running maximum.
	maxBefore int64
}

func newDedupeSet() *dedupeSet { return &dedupeSet{ids: map[uint64]int64{}} }

// seen reports whether hash is remembered and not expired: expired means its
// expiry plus lateness is behind closed, the stream's watermark.
func (d *dedupeSet) seen(hash uint64, closed, lateness int64) bool {
	exp, ok := d.ids[hash]
	return ok && (closed == noTime || exp+lateness >= closed)
}

// remember adds hash, counted at offset off, until expiry; maxBefore is the
// partition's greatest event time before it.
func (d *dedupeSet) remember(hash uint64, off, expiry, maxBefore int64) {
	d.ids[hash] = expiry
	d.queue = append(d.queue, dedupeEntry{hash: hash, off: off, expiry: expiry, maxBefore: maxBefore})
}

// forget drops the IDs at the head of the queue that expired: an ID is
// remembered at least until its expiry plus lateness is behind closed, and
// no memory is held for one beyond the oldest unexpired ID.
func (d *dedupeSet) forget(closed, lateness int64) {
	if closed == noTime {
		return
	}
	for d.head < len(d.queue) {
		e := &d.queue[d.head]
		if e.expiry+lateness >= closed {
			break
		}
		if exp, ok := d.ids[e.hash]; ok && exp == e.expiry {
			delete(d.ids, e.hash)
		}
		d.head++
	}
	// Compact once the dead head is most of the queue.
	if d.head > 1024 && d.head*2 > len(d.queue) {
		n := copy(d.queue, d.queue[d.head:])
		d.queue = d.queue[:n]
		d.head = 0
	}
}

// from is the offset of the oldest ID remembered, or next when none, and
// the partition's greatest event time before it (cur when none).
func (d *dedupeSet) from(next, cur int64) (int64, int64) {
	if d.head < len(d.queue) && d.queue[d.head].off < next {
		return d.queue[d.head].off, d.queue[d.head].maxBefore
	}
	return next, cur
}

// Len is the number of IDs remembered.
func (d *dedupeSet) Len() int { return len(d.ids) }
