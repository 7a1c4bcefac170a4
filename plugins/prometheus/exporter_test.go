package prometheus

import (
	"bytes"
	"sync"
	"testing"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newPrometheus(t *testing.T, yaml string) *promExporter {
	t.Helper()
	conf, err := prometheusSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	e, err := newPrometheusFromConfig(conf, nil)
	require.NoError(t, err)
	return e.(*promExporter)
}

func render(t *testing.T, p *promExporter) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, p.write(&buf))
	return buf.String()
}

func TestPrometheusText(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "timers as summaries in nanoseconds",
			yaml: `{}`,
			want: `# HELP latency_ns Benthos summary metric
# TYPE latency_ns summary
latency_ns_sum{path="root.output"} 3.5e+09
latency_ns_count{path="root.output"} 2
# HELP products Benthos gauge metric
# TYPE products gauge
products 2.5
# HELP sent Benthos counter metric
# TYPE sent counter
sent{label="",path="root.output"} 3
sent{label="a\"b\\c\nd",path="root.input"} 7
`,
		},
		{
			name: "timers as histograms in seconds",
			yaml: `{use_histogram_timing: true, histogram_buckets: [1, 3]}`,
			want: `# HELP latency_ns Benthos histogram metric
# TYPE latency_ns histogram
latency_ns_bucket{path="root.output",le="1"} 1
latency_ns_bucket{path="root.output",le="3"} 2
latency_ns_bucket{path="root.output",le="+Inf"} 2
latency_ns_sum{path="root.output"} 3.5
latency_ns_count{path="root.output"} 2
# HELP products Benthos gauge metric
# TYPE products gauge
products 2.5
# HELP sent Benthos counter metric
# TYPE sent counter
sent{label="",path="root.output"} 3
sent{label="a\"b\\c\nd",path="root.input"} 7
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPrometheus(t, tt.yaml)
			sent := p.NewCounterCtor("sent", "label", "path")
			out := sent("", "root.output")
			out.Incr(1)
			out.Incr(2)
			sent("a\"b\\c\nd", "root.input").Incr(7)
			// The same labels again are the same series.
			sent("", "root.output").Incr(0)

			g := p.NewGaugeCtor("products")()
			g.Set(9)
			g.(interface{ SetFloat64(float64) }).SetFloat64(2.5)

			timer := p.NewTimerCtor("latency_ns", "path")("root.output")
			timer.Timing(500_000_000)
			timer.Timing(3_000_000_000)

			// Dropped, not exported and not a panic: names Prometheus refuses,
			// and a name reused with another kind or other labels.
			p.NewCounterCtor("bad-name")().Incr(1)
			p.NewCounterCtor("bad_label", "__reserved")("x").Incr(1)
			p.NewGaugeCtor("sent", "label", "path")("", "root.output").Set(1)
			p.NewCounterCtor("sent", "path")("root.output").Incr(1)

			assert.Equal(t, tt.want, render(t, p))
		})
	}
}

func TestPrometheusConcurrentUpdates(t *testing.T) {
	p := newPrometheus(t, `{use_histogram_timing: true}`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := p.NewCounterCtor("n", "path")("root")
			tm := p.NewTimerCtor("t_ns")()
			for range 1000 {
				c.Incr(1)
				tm.Timing(1)
			}
		}()
	}
	wg.Wait()
	out := render(t, p)
	assert.Contains(t, out, "n{path=\"root\"} 8000\n")
	assert.Contains(t, out, "t_ns_count 8000\n")
	assert.Contains(t, out, "t_ns_bucket{le=\"0.005\"} 8000\n")
}

func TestPrometheusConfig(t *testing.T) {
	for _, yaml := range []string{
		`{use_histogram_timing: true, histogram_buckets: [1, 0.5]}`,
		`{use_histogram_timing: true, histogram_buckets: [1, 1]}`,
	} {
		conf, err := prometheusSpec().ParseYAML(yaml, nil)
		require.NoError(t, err)
		_, err = newPrometheusFromConfig(conf, nil)
		assert.ErrorContains(t, err, "histogram_buckets", yaml)
	}
	// Redpanda Connect's fields that this exporter lacks fail lint, as the
	// README says of kafka_franz.
	sb := service.NewStreamBuilder()
	err := sb.SetYAML(`
input: { generate: { count: 1, mapping: "root = 1" } }
output: { drop: {} }
metrics: { prometheus: { push_url: "http://127.0.0.1:9091" } }
`)
	assert.ErrorContains(t, err, "field push_url not recognised")
	require.NoError(t, service.NewStreamBuilder().SetYAML(`
input: { generate: { count: 1, mapping: "root = 1" } }
output: { drop: {} }
metrics: { prometheus: { use_histogram_timing: true, histogram_buckets: [0.01, 0.1] } }
`))
}

// TestPrometheusSeriesReused: Benthos asks for a labelled metric's series
// at every update; one with one label is found again without allocating,
// whoever asks, and a metric refused for its name or labels is logged once
// and dropped.
func TestPrometheusSeriesReused(t *testing.T) {
	p := newPrometheus(t, `{}`)
	ctor := p.NewCounterCtor("kafka_produced_records", "topic")
	vendas := []string{"vendas"} // as Benthos passes them
	allocs := testing.AllocsPerRun(1000, func() { ctor(vendas...).Incr(1) })
	assert.Zero(t, allocs)
	p.NewCounterCtor("kafka_produced_records", "topic")("vendas").Incr(1)
	ctor("outro").Incr(2)
	two := p.NewCounterCtor("two_labels", "a", "b")
	two("x", "y").Incr(1)
	two("x", "y").Incr(1)
	xy := []string{"x", "y"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { two(xy...).Incr(0) }))
	two("a", "bc").Incr(3)
	two("ab", "c").Incr(4)  // not the series of "a", "bc"
	two("only one").Incr(5) // refused: not as many values as labels
	p.NewCounterCtor("bad-name", "topic")("t").Incr(1)
	p.NewGaugeCtor("kafka_produced_records", "topic")("vendas").Set(9) // refused: a counter already
	out := render(t, p)
	assert.Contains(t, out, "kafka_produced_records{topic=\"vendas\"} 1002\n")
	assert.Contains(t, out, "kafka_produced_records{topic=\"outro\"} 2\n")
	assert.Contains(t, out, "two_labels{a=\"x\",b=\"y\"} 2\n")
	assert.Contains(t, out, "two_labels{a=\"a\",b=\"bc\"} 3\n")
	assert.Contains(t, out, "two_labels{a=\"ab\",b=\"c\"} 4\n")
	assert.NotContains(t, out, "bad-name")
	assert.NotContains(t, out, " 9\n")
	assert.NotContains(t, out, " 5\n")
}
