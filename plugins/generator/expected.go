package generator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/order"
)

// ExpectedVersion is the versao of the expected results' format.
const ExpectedVersion = 1

// Expected is what a correct consumer reports for the orders [First, Last]
// of one instance of a seed: the snapshot of CONTRACT.md section 6, with each
// id_ordem counted once, plus where it comes from and the injected faults.
type Expected struct {
	Version    int            `json:"versao"`
	Seed       int64          `json:"semente"`
	Instance   int            `json:"instancia"`
	Generator  string         `json:"gerador"`
	First      uint64         `json:"primeiro_seq"`
	Last       uint64         `json:"ultimo_seq"`
	Complete   bool           `json:"completo"`
	Orders     int64          `json:"pedidos"`
	Rejected   int64          `json:"rejeitados"`
	Value      Money          `json:"valor_total"`
	Products   []ProductTotal `json:"produtos"`
	Mode       string         `json:"modo"`
	Records    int64          `json:"registros"`
	Faults     map[string]int `json:"falhas"`
	Duplicates Duplicates     `json:"duplicados"`
	At         string         `json:"emitido_em"`
}

// ProductTotal is one product's row of a snapshot.
type ProductTotal struct {
	Product string `json:"produto"`
	Units   int64  `json:"quantidade"`
	Orders  int64  `json:"pedidos"`
	Value   Money  `json:"valor_total"`
}

// Duplicates are the totals of the duplicate copies alone: what a consumer
// that counts every record, not every id_ordem, adds to the expected totals.
type Duplicates struct {
	Orders   int64          `json:"pedidos"`
	Value    Money          `json:"valor_total"`
	Products []ProductTotal `json:"produtos"`
}

// Money is centavos written in JSON as reais with two decimals (3499.90),
// as in a snapshot, and read back exactly.
type Money order.Cents

// MarshalJSON writes the amount with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return order.Cents(m).AppendJSON(nil), nil }

// UnmarshalJSON reads an amount of at most two decimals, exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	c, err := order.ParseSum(b)
	if err != nil {
		return fmt.Errorf("amount %s: %w", b, err)
	}
	*m = Money(c)
	return nil
}

// Empty says whether the range holds no order (Last < First).
func (e *Expected) Empty() bool { return e.Last < e.First }

// Fingerprint names everything that decides which orders and faults a seq
// gets, so that two runs can tell whether they make the same stream. The
// clock's start, rate and speed do not count: they change no total. The
// event_time shifts do, though they change no total either: they decide how
// out of order and how late the fora_de_ordem and atrasado orders are, which
// is what a windowed consumer is tested on, and one range made with two
// settings could not be told apart. They count only when not the defaults,
// so that the digests of runs from before event_time existed stay valid.
func Fingerprint(opts *Options) string {
	h := sha256.New()
	var b [8]byte
	num := func(x uint64) {
		binary.BigEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	num(uint64(opts.Seed))
	num(uint64(opts.Instance))
	num(uint64(len(opts.Catalog)))
	for _, p := range opts.Catalog {
		num(uint64(len(p.Name)))
		h.Write([]byte(p.Name))
		num(uint64(p.Price))
	}
	num(uint64(opts.Customers))
	num(uint64(opts.MaxItems))
	num(uint64(opts.MaxQuantity))
	num(math.Float64bits(opts.PopularitySkew))
	num(math.Float64bits(opts.BasketDecay))
	num(math.Float64bits(opts.QuantityDecay))
	if opts.Clock.Simulated { // a simulated clock draws from the source
		num(1)
	} else {
		num(0)
	}
	for _, r := range opts.Faults {
		num(math.Float64bits(r))
	}
	if et := opts.EventTime.withDefaults(); et != (EventTime{}).withDefaults() {
		num(uint64(et.DisorderMax))
		num(uint64(et.LateMin))
		num(uint64(et.LateMax))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Tally replays a seed's orders to total a range of them: the expected
// results are computed from the options and the range alone.
type Tally struct {
	opts     Options
	gen      *Generator
	faults   faultPicker
	first    uint64
	products map[string]*ProductTotal
	dups     map[string]*ProductTotal
	exp      Expected
	scratch  order.Order
}

// NewTally returns a Tally of the orders from seq first (from 1) on, empty.
func NewTally(opts Options, first uint64) (*Tally, error) {
	if first < 1 {
		return nil, fmt.Errorf("the first seq must be 1 or more, got %d", first)
	}
	// Event times do not change totals; a wall clock would only cost time.
	if !opts.Clock.Simulated {
		opts.Clock.Now = func() time.Time { return time.Time{} }
	}
	gen, err := New(opts)
	if err != nil {
		return nil, err
	}
	gen.SkipTo(first)
	return &Tally{
		opts:     opts,
		gen:      gen,
		faults:   newFaultPicker(&opts),
		first:    first,
		products: map[string]*ProductTotal{},
		dups:     map[string]*ProductTotal{},
		exp: Expected{
			Version: ExpectedVersion, Seed: opts.Seed, Instance: opts.Instance,
			Generator: Fingerprint(&opts), First: first, Last: first - 1,
			Mode: "complete", Faults: map[string]int{},
		},
	}, nil
}

// Last is the last seq counted (First - 1 when none is).
func (t *Tally) Last() uint64 { return t.exp.Last }

// AdvanceTo counts the orders up to seq last.
func (t *Tally) AdvanceTo(last uint64) {
	o := &t.scratch
	for t.gen.Seq() < last {
		t.gen.Next(o)
		f, _ := t.faults.at(t.gen.Seq())
		t.exp.Records++
		if f != NoFault {
			t.exp.Faults[f.String()]++
		}
		if f.Rejected() {
			t.exp.Rejected++
			continue
		}
		t.exp.Orders++
		t.exp.Value += Money(o.Total)
		add(t.products, o)
		if f == FaultDuplicate {
			t.exp.Records++
			t.exp.Duplicates.Orders++
			t.exp.Duplicates.Value += Money(o.Total)
			add(t.dups, o)
		}
	}
	t.exp.Last = max(t.exp.Last, last)
}

func add(m map[string]*ProductTotal, o *order.Order) {
	for i := range o.Items {
		it := &o.Items[i]
		p := m[it.Name]
		if p == nil {
			p = &ProductTotal{Product: it.Name}
			m[it.Name] = p
		}
		p.Units += it.Quantity
		p.Orders++
		p.Value += Money(it.Quantity) * Money(it.UnitPrice)
	}
}

// Expected is the expected results so far.
func (t *Tally) Expected(complete bool, now time.Time) Expected {
	e := t.exp
	e.Complete = complete
	e.At = now.In(order.SaoPaulo).Format(time.RFC3339)
	e.Faults = make(map[string]int, len(t.exp.Faults))
	for k, v := range t.exp.Faults {
		e.Faults[k] = v
	}
	e.Products = sortedRows(t.products)
	e.Duplicates.Products = sortedRows(t.dups)
	return e
}

// sortedRows lists the products as a snapshot does: by value descending,
// then by name.
func sortedRows(m map[string]*ProductTotal) []ProductTotal {
	rows := make([]ProductTotal, 0, len(m))
	for _, p := range m {
		rows = append(rows, *p)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Value != rows[j].Value {
			return rows[i].Value > rows[j].Value
		}
		return rows[i].Product < rows[j].Product
	})
	return rows
}

// ComputeExpected is the expected results of orders first to last of opts'
// seed and instance.
func ComputeExpected(opts Options, first, last uint64) (Expected, error) {
	t, err := NewTally(opts, first)
	if err != nil {
		return Expected{}, err
	}
	t.AdvanceTo(last)
	return t.Expected(true, time.Now()), nil
}

// WriteExpectedFile writes e to path atomically: a reader sees the previous
// file or this one, never a part, even when the process is killed.
func WriteExpectedFile(path string, e *Expected) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing expected results %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing expected results %s: %w", path, err)
	}
	return nil
}

// ReadExpectedFile reads expected results written by WriteExpectedFile.
func ReadExpectedFile(path string) (Expected, error) {
	var e Expected
	data, err := os.ReadFile(path)
	if err != nil {
		return e, fmt.Errorf("reading expected results: %w", err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("expected results %s are not JSON of the expected format: %w", path, err)
	}
	if e.Version != ExpectedVersion {
		return e, fmt.Errorf("expected results %s have versao %d, this build reads %d", path, e.Version, ExpectedVersion)
	}
	if e.Generator == "" || e.First < 1 {
		return e, errors.New("expected results " + path + " lack gerador or primeiro_seq")
	}
	return e, nil
}

// expectedWriter keeps the expected results file of a running input.
type expectedWriter struct {
	path  string
	every time.Duration
	log   *service.Logger

	mu       sync.Mutex
	tally    *Tally
	written  uint64 // ultimo_seq of the file on disk
	complete bool
}

// expectedFromConfig reads expected and, when it names a file, prepares the
// tally of the run that starts at seq start: from start, or from the first
// seq of a file a previous run of the same stream left, whose range the run
// continues.
func expectedFromConfig(conf *service.ParsedConfig, opts Options, start uint64, log *service.Logger) (*expectedWriter, error) {
	path, err := conf.FieldString(fieldExpected, fieldExpectedPath)
	if err != nil || path == "" {
		return nil, err
	}
	every, err := conf.FieldDuration(fieldExpected, fieldExpectedEvery)
	if err != nil {
		return nil, err
	}
	if every <= 0 {
		return nil, fmt.Errorf("%s.%s must be a positive duration, got %v", fieldExpected, fieldExpectedEvery, every)
	}
	first, counted := start, start-1
	if start > 1 {
		prev, err := ReadExpectedFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("%s.%s: %w (remove it to start a new range at %s %d)", fieldExpected, fieldExpectedPath, err, fieldStartSeq, start)
		case prev.Generator != Fingerprint(&opts):
			return nil, fmt.Errorf("%s.%s: %s was written for seed %d, instance %d and other options (gerador %s, this run %s): restart with the seed and options that wrote it, or remove it to start a new range at %s %d",
				fieldExpected, fieldExpectedPath, path, prev.Seed, prev.Instance, prev.Generator, Fingerprint(&opts), fieldStartSeq, start)
		case start > prev.Last+1:
			return nil, fmt.Errorf("%s %d leaves a gap after %s, which covers seqs %d to %d: orders %d to %d may never have been sent; restart at %s %d or earlier",
				fieldStartSeq, start, path, prev.First, prev.Last, prev.Last+1, start-1, fieldStartSeq, prev.Last+1)
		default:
			first, counted = min(prev.First, start), max(prev.Last, start-1)
		}
	}
	tally, err := NewTally(opts, first)
	if err != nil {
		return nil, err
	}
	tally.AdvanceTo(counted)
	w := &expectedWriter{path: path, every: every, log: log, tally: tally}
	// Written now, so that a path that cannot be written stops the start.
	if err := w.writeLocked(false); err != nil {
		return nil, err
	}
	return w, nil
}

// update counts the orders up to ackedTo and rewrites the file when
// anything changed.
func (w *expectedWriter) update(ackedTo uint64, complete bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tally.AdvanceTo(ackedTo)
	if w.tally.Last() == w.written && complete == w.complete {
		return
	}
	if err := w.writeLocked(complete); err != nil {
		w.log.Errorf("sales_orders: %v", err)
	}
}

func (w *expectedWriter) writeLocked(complete bool) error {
	e := w.tally.Expected(complete, time.Now())
	if err := WriteExpectedFile(w.path, &e); err != nil {
		return err
	}
	w.written, w.complete = e.Last, complete
	return nil
}

// writeExpected brings the expected results up to the acknowledged orders.
func (in *input) writeExpected(complete bool) {
	if in.expected == nil {
		return
	}
	in.mu.Lock()
	to := in.ackedTo
	in.mu.Unlock()
	in.expected.update(to, complete)
}

// keepExpected rewrites the expected results every interval until stop.
func (in *input) keepExpected(stop <-chan struct{}) {
	t := time.NewTicker(in.expected.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			in.writeExpected(false)
		}
	}
}

// OptionsFromYAML reads the options of a sales_orders config (the fields
// under `sales_orders:`, environment variables already replaced), to compute
// the expected results of a producer that ran it. The seed must be set: a
// random one cannot be replayed.
func OptionsFromYAML(yaml string) (Options, error) {
	conf, err := Spec().ParseYAML(yaml, nil)
	if err != nil {
		return Options{}, err
	}
	if seed, _ := conf.FieldString(fieldSeed); strings.TrimSpace(seed) == "" {
		return Options{}, errors.New("the config has no seed (ORDERS_SEED is empty): set the seed the producer used, which its expected results file names (semente)")
	}
	opts, err := optionsFromConfig(conf)
	if err != nil {
		return opts, err
	}
	rate, err := numberFromConfig(conf, fieldRate)
	if err != nil {
		return opts, err
	}
	return opts, clockFromConfig(conf, &opts, rate)
}
