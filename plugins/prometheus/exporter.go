// Package prometheus is this build's Prometheus metrics exporter: Benthos
// v4.80.0 ships none, and Redpanda Connect's cannot be used here. It is
// registered as "prometheus", which Benthos then makes the default of
// metrics, so every pipeline serves /metrics on its HTTP address.
package prometheus

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func init() {
	if err := service.RegisterMetricsExporter("prometheus", prometheusSpec(), newPrometheusFromConfig); err != nil {
		panic(err)
	}
}

// prometheusSpec is the `metrics: prometheus` exporter. Benthos v4 ships
// none (Redpanda Connect's is not open source), so this build has its own,
// with Redpanda Connect's field names for what it supports. Once an
// exporter named prometheus is registered, Benthos makes it the default of
// `metrics`: a config that sets none serves /metrics.
func prometheusSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Summary("Serves the metrics at `/metrics` (and `/stats`) of the HTTP server, in Prometheus' text format.").
		Description(`Counters and gauges are exported as they are. Timers, which Benthos measures in
nanoseconds, are exported as summaries of their sum and count in nanoseconds (without
quantiles), or as histograms in seconds with `+"`use_histogram_timing`"+`. The fields
are named as in Redpanda Connect's `+"`prometheus`"+` exporter; its push gateway, file
output and process and Go runtime metrics are not here.`).
		Fields(
			service.NewBoolField(promFieldHistogram).
				Description("Export timers as histograms in seconds instead of summaries in nanoseconds.").
				Default(false).Advanced(),
			service.NewFloatListField(promFieldBuckets).
				Description("Upper bounds of the histogram buckets, in seconds, ascending; empty means Prometheus' default buckets.").
				Example([]float64{0.001, 0.01, 0.1, 1}).
				Default([]any{}).Advanced(),
		)
}

const (
	promFieldHistogram = "use_histogram_timing"
	promFieldBuckets   = "histogram_buckets"
)

// promDefaultBuckets are client_golang's DefBuckets, in seconds.
var promDefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newPrometheusFromConfig(conf *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
	p := &promExporter{log: log, families: map[string]*promFamily{}}
	histogram, err := conf.FieldBool(promFieldHistogram)
	if err != nil {
		return nil, err
	}
	if histogram {
		if p.buckets, err = conf.FieldFloatList(promFieldBuckets); err != nil {
			return nil, err
		}
		if len(p.buckets) == 0 {
			p.buckets = promDefaultBuckets
		}
		for i, b := range p.buckets {
			if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= p.buckets[i-1]) {
				return nil, fmt.Errorf("%s: %v is invalid, the bounds must be finite and ascending", promFieldBuckets, p.buckets)
			}
		}
	}
	return p, nil
}

// promExporter keeps every series Benthos asked for and renders them all
// on each scrape. Updates are atomic adds, or a short lock for timers.
type promExporter struct {
	log      *service.Logger
	buckets  []float64 // nil: timers are summaries
	mu       sync.Mutex
	families map[string]*promFamily
}

type promFamily struct {
	name, kind string // kind: counter, gauge, summary or histogram
	labelKeys  []string
	series     map[string]*promSeries // by rendered labels
}

type promSeries struct {
	labels string       // {k="v",...}, or empty
	value  atomic.Int64 // counter, or gauge as math.Float64bits
	mu     sync.Mutex   // timers
	count  uint64
	sum    float64
	counts []uint64 // per bucket, not cumulative
}

var (
	promNameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// metric is one metric Benthos declared: its name, kind and label names,
// checked once, and its series by label values. Benthos asks for the series
// at every update of a labelled metric (kafka_franz's output counted every
// record it wrote by topic): checking the names and rendering the labels
// each time was nearly half of produce.yaml's CPU.
type metric struct {
	p           *promExporter
	name, kind  string
	labelKeys   []string
	ok          bool
	noLabels    *promSeries
	mu          sync.RWMutex
	byValues    map[string]*promSeries // by the label values, each after its length
	warnedCount atomic.Bool
}

// metric checks a metric's name and label names, logging once (and
// dropping its updates) when they do not fit Prometheus.
func (p *promExporter) metric(name, kind string, labelKeys []string) *metric {
	m := &metric{p: p, name: name, kind: kind, labelKeys: slices.Clone(labelKeys), byValues: map[string]*promSeries{}}
	if !promNameRE.MatchString(name) {
		p.log.Errorf("Ignoring metric %q: not a valid Prometheus metric name", name)
		return m
	}
	for _, k := range labelKeys {
		if !promLabelRE.MatchString(k) || strings.HasPrefix(k, "__") {
			p.log.Errorf("Ignoring metric %q: %q is not a valid Prometheus label name", name, k)
			return m
		}
	}
	m.ok = true
	if len(labelKeys) == 0 {
		m.noLabels = p.series(name, kind, labelKeys, nil)
		m.ok = m.noLabels != nil
	}
	return m
}

// with returns the series of these label values, creating it; nil (the
// update is dropped) when the metric was refused or the values do not match
// its labels.
func (m *metric) with(labelValues []string) *promSeries {
	if !m.ok {
		return nil
	}
	if len(labelValues) != len(m.labelKeys) {
		if !m.warnedCount.Swap(true) {
			m.p.log.Errorf("Ignoring metric %q: %d label values for the labels %v", m.name, len(labelValues), m.labelKeys)
		}
		return nil
	}
	if len(m.labelKeys) == 0 {
		return m.noLabels
	}
	// The key is built on the stack for the usual label values, and a map
	// lookup by string(key) does not copy it.
	var buf [128]byte
	key := buf[:0]
	for _, v := range labelValues {
		// Each value after its length: "a" "bc" and "ab" "c" differ,
		// whatever bytes the values hold.
		key = binary.AppendUvarint(key, uint64(len(v)))
		key = append(key, v...)
	}
	m.mu.RLock()
	s, ok := m.byValues[string(key)]
	m.mu.RUnlock()
	if ok {
		return s
	}
	s = m.p.series(m.name, m.kind, m.labelKeys, labelValues)
	if s != nil {
		m.mu.Lock()
		m.byValues[string(key)] = s
		m.mu.Unlock()
	}
	return s
}

// series returns the series of name with these labels, creating it; nil
// (the metric is dropped, with an error logged) when the kind or the labels
// do not fit an earlier metric of that name.
func (p *promExporter) series(name, kind string, labelKeys, labelValues []string) *promSeries {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.families[name]
	if !ok {
		f = &promFamily{name: name, kind: kind, labelKeys: slices.Clone(labelKeys), series: map[string]*promSeries{}}
		p.families[name] = f
	}
	if f.kind != kind || !slices.Equal(f.labelKeys, labelKeys) {
		p.log.Errorf("Ignoring metric %q as a %s with labels %v: it is a %s with labels %v", name, kind, labelKeys, f.kind, f.labelKeys)
		return nil
	}
	labels := promLabels(labelKeys, labelValues)
	s, ok := f.series[labels]
	if !ok {
		s = &promSeries{labels: labels}
		if kind == "histogram" {
			s.counts = make([]uint64, len(p.buckets))
		}
		f.series[labels] = s
	}
	return s
}

func promLabels(keys, values []string) string {
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(promEscaper.Replace(values[i]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var promEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// NewCounterCtor implements service.MetricsExporter.
func (p *promExporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	m := p.metric(name, "counter", labelKeys)
	return func(labelValues ...string) service.MetricsExporterCounter {
		return promCounter{m.with(labelValues)}
	}
}

// NewGaugeCtor implements service.MetricsExporter.
func (p *promExporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	m := p.metric(name, "gauge", labelKeys)
	return func(labelValues ...string) service.MetricsExporterGauge {
		return promGauge{m.with(labelValues)}
	}
}

// NewTimerCtor implements service.MetricsExporter.
func (p *promExporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	kind := "summary"
	if p.buckets != nil {
		kind = "histogram"
	}
	m := p.metric(name, kind, labelKeys)
	return func(labelValues ...string) service.MetricsExporterTimer {
		return promTimer{m.with(labelValues), p.buckets}
	}
}

// Close implements service.MetricsExporter.
func (p *promExporter) Close(context.Context) error { return nil }

type promCounter struct{ s *promSeries }

func (c promCounter) Incr(n int64) {
	if c.s != nil {
		c.s.value.Add(n)
	}
}

type promGauge struct{ s *promSeries }

func (g promGauge) Set(v int64) { g.SetFloat64(float64(v)) }

// SetFloat64 keeps a fractional gauge (Benthos uses it where it has one).
func (g promGauge) SetFloat64(v float64) {
	if g.s != nil {
		g.s.value.Store(int64(math.Float64bits(v)))
	}
}

type promTimer struct {
	s       *promSeries
	buckets []float64
}

func (t promTimer) Timing(ns int64) {
	if t.s == nil {
		return
	}
	v := float64(ns)
	if t.buckets != nil {
		v /= float64(time.Second)
	}
	t.s.mu.Lock()
	t.s.count++
	t.s.sum += v
	if i, _ := slices.BinarySearch(t.buckets, v); i < len(t.buckets) {
		t.s.counts[i]++
	}
	t.s.mu.Unlock()
}

// HandlerFunc serves /metrics; Benthos looks for this method.
func (p *promExporter) HandlerFunc() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = p.write(w)
	}
}

// write renders every series in Prometheus' text format, families and
// series in name order.
func (p *promExporter) write(w io.Writer) error {
	p.mu.Lock()
	families := make([]*promFamily, 0, len(p.families))
	series := map[*promFamily][]*promSeries{}
	for _, f := range p.families {
		families = append(families, f)
		ss := make([]*promSeries, 0, len(f.series))
		for _, s := range f.series {
			ss = append(ss, s)
		}
		slices.SortFunc(ss, func(a, b *promSeries) int { return strings.Compare(a.labels, b.labels) })
		series[f] = ss
	}
	p.mu.Unlock()
	slices.SortFunc(families, func(a, b *promFamily) int { return strings.Compare(a.name, b.name) })

	bw := bufio.NewWriter(w)
	for _, f := range families {
		fmt.Fprintf(bw, "# HELP %s Benthos %s metric\n# TYPE %s %s\n", f.name, f.kind, f.name, f.kind)
		for _, s := range series[f] {
			switch f.kind {
			case "counter":
				fmt.Fprintf(bw, "%s%s %d\n", f.name, s.labels, s.value.Load())
			case "gauge":
				fmt.Fprintf(bw, "%s%s %s\n", f.name, s.labels, promFloat(math.Float64frombits(uint64(s.value.Load()))))
			default:
				s.mu.Lock()
				count, sum, counts := s.count, s.sum, slices.Clone(s.counts)
				s.mu.Unlock()
				if f.kind == "histogram" {
					var cum uint64
					for i, b := range p.buckets {
						cum += counts[i]
						fmt.Fprintf(bw, "%s_bucket%s %d\n", f.name, withLabel(s.labels, "le", promFloat(b)), cum)
					}
					fmt.Fprintf(bw, "%s_bucket%s %d\n", f.name, withLabel(s.labels, "le", "+Inf"), count)
				}
				fmt.Fprintf(bw, "%s_sum%s %s\n%s_count%s %d\n", f.name, s.labels, promFloat(sum), f.name, s.labels, count)
			}
		}
	}
	return bw.Flush()
}

// withLabel adds k="v" to rendered labels.
func withLabel(labels, k, v string) string {
	if labels == "" {
		return "{" + k + `="` + v + `"}`
	}
	return labels[:len(labels)-1] + "," + k + `="` + v + `"}`
}

func promFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
