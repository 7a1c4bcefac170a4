package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// promSample is one line of Prometheus' text format: name{labels} value.
var promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)

// scrape reads /metrics and sums each metric over its series.
func scrape(t *testing.T, url string) (map[string]float64, error) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		return nil, fmt.Errorf("GET %s: Content-Type %q is not Prometheus' text format", url, ct)
	}
	metrics := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := promSample.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("not a Prometheus sample line: %q", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		metrics[m[1]] += v
	}
	return metrics, nil
}

// freeAddr is a loopback address no one listens on now. (Benthos logs the
// address it was given, not the port it got for :0.)
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestProduceYAMLServesMetrics runs the shipped produce.yaml and reads its
// /metrics while it produces: the generator's counters and the Kafka
// output's agree with each other once a batch is acknowledged.
func TestProduceYAMLServesMetrics(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 6)
	addr := freeAddr(t)
	p := kafkatest.StartProcess(t, "produce", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "ORDERS_RATE": "2000",
		"PRODUCE_HTTP_ADDRESS": addr, "LOG_LEVEL": "INFO",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	_, err := p.WaitOutput(time.Minute, "Listening for HTTP requests at: http://"+addr)
	require.NoError(t, err)
	url := "http://" + addr + "/metrics"

	// Between two batches every order generated so far is sent and
	// acknowledged: wait for such a scrape, past the first few batches.
	var got map[string]float64
	var scrapeErr error
	consistent := func() bool {
		return scrapeErr == nil && got["sales_orders_acked"] >= 3000 &&
			got["output_sent"] == got["sales_orders_acked"] &&
			got["kafka_produced_records"] == got["sales_orders_acked"]
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && !p.Exited(); <-tick.C {
		if got, scrapeErr = scrape(t, url); consistent() {
			break
		}
	}
	require.True(t, consistent(), "no consistent scrape of %s in 90s; the last: %v %v", url, scrapeErr, got)
	t.Logf("metrics: %v", got)

	acked := got["sales_orders_acked"]
	assert.GreaterOrEqual(t, got["sales_orders_generated"], acked, "generated ≥ acknowledged")
	assert.Less(t, got["sales_orders_generated"]-acked, 20_000.0, "generated but not acknowledged: a few batches at most")
	perOrder := got["sales_orders_value_cents"] / got["sales_orders_generated"]
	assert.True(t, perOrder > 100 && perOrder < 10_000_000, "value per order %v centavos", perOrder)
	bytesPerRecord := got["kafka_produced_bytes"] / got["kafka_produced_records"]
	assert.True(t, bytesPerRecord > 150 && bytesPerRecord < 2000, "bytes per record %v", bytesPerRecord)
	assert.Positive(t, got["output_batch_sent"])
	assert.LessOrEqual(t, got["output_batch_sent"], got["output_sent"])
	assert.Zero(t, got["output_error"])
	assert.Zero(t, got["kafka_produce_errors"])
	assert.Equal(t, 1.0, got["output_connection_up"])
	assert.Positive(t, got["output_latency_ns_count"])
	assert.Positive(t, got["output_latency_ns_sum"])

	if err := p.Stop(30 * time.Second); err != nil {
		// Known and documented (README, Not done yet): Benthos may drop the
		// batch the generator made just as SIGINT arrives, before the output
		// takes it; the producer then exits 1 naming those few orders. Any
		// other failure, or more than a batch, fails the test.
		require.Contains(t, err.Error(), "exit status 1")
		require.Regexp(t, `stopped with [1-9][0-9]? of [0-9]+ generated orders unacknowledged`, p.Stderr())
		t.Logf("a batch made as SIGINT arrived was dropped by Benthos (README, Not done yet): %v", err)
	} else {
		assert.Contains(t, p.Stderr(), "orders generated", "its logs are on stderr")
	}
	assert.Empty(t, p.Stdout(), "produce.yaml writes nothing to stdout")
}

// TestConsumeYAMLServesMetrics: consume.yaml sets no metrics and still
// serves /metrics (Prometheus is this build's default), with counts that
// match the orders its snapshot covers.
func TestConsumeYAMLServesMetrics(t *testing.T) {
	t.Parallel()
	const n = 2000
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 3)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	produce := kafkatest.StartProcess(t, "produce", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "ORDERS_COUNT": strconv.Itoa(n), "ORDERS_RATE": "0",
		"PRODUCE_HTTP_ADDRESS": freeAddr(t),
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, produce.Wait(2*time.Minute), "produce.yaml ends by itself")

	addr := freeAddr(t)
	consume := kafkatest.StartProcess(t, "consume", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "KAFKA_CONSUMER_GROUP": topic,
		"OUTPUT_FORMAT": "json", "AGGREGATE_INTERVAL": "100ms", "CONSUME_HTTP_ADDRESS": addr,
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("consume.yaml"))
	snap, _, err := consume.WaitSnapshot(2*time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Orders == n })
	require.NoError(t, err)

	var got map[string]float64
	require.NoError(t, consume.WaitUntil(time.Minute, func() bool {
		got, err = scrape(t, "http://"+addr+"/metrics")
		return err == nil && got["sales_snapshots_emitted"] > 0
	}), "no /metrics from consume.yaml: %v", err)
	t.Logf("metrics: %v", got)
	assert.Equal(t, float64(n), got["sales_orders_applied"])
	assert.Equal(t, float64(len(snap.Products)), got["sales_products"])
	assert.GreaterOrEqual(t, got["kafka_consumed_records"], float64(n))
	assert.Zero(t, got["sales_records_rejected"])
	require.NoError(t, consume.Stop(30*time.Second))
}
