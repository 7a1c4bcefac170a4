package kafka

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
)

var (
	sharedBrokerOnce sync.Once
	sharedBroker     *devbroker.Broker
	sharedBrokerErr  error
	topicSeq         atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedBroker != nil {
		sharedBroker.Close()
	}
	os.Exit(code)
}

// testBrokers returns the seed brokers the tests use: KAFKA_BROKERS when set
// (a real Apache Kafka, as in CI), otherwise an embedded kfake broker shared
// by the package, so the tests always run.
func testBrokers(t *testing.T) string {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Logf("using Kafka from KAFKA_BROKERS=%s", env)
		return env
	}
	sharedBrokerOnce.Do(func() {
		sharedBroker, sharedBrokerErr = devbroker.Start(context.Background(), devbroker.Options{Addr: "127.0.0.1:0", Partitions: 6})
	})
	require.NoError(t, sharedBrokerErr)
	t.Logf("using embedded kfake broker at %s (set KAFKA_BROKERS to test a real Kafka)", sharedBroker.Addr())
	return sharedBroker.Addr()
}

var nonTopicChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// createTopic creates a topic unique to this test run and deletes it after.
func createTopic(t *testing.T, brokers string, partitions int32) string {
	t.Helper()
	name := fmt.Sprintf("test_%s_%d_%d", nonTopicChars.ReplaceAllString(t.Name(), "_"), time.Now().UnixNano(), topicSeq.Add(1))
	adm := newAdmin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	// Kafka answers CreateTopics before every broker knows the leaders; a
	// client seeing the topic too early backs off for seconds.
	require.Eventually(t, func() bool {
		md, err := adm.Metadata(ctx, name)
		if err != nil {
			return false
		}
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || len(td.Partitions) != int(partitions) {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "topic %s never got leaders", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
	return name
}

func newAdmin(t *testing.T, brokers string) *kadm.Client {
	t.Helper()
	// A short metadata min age: kgo serves metadata requests from a cache
	// younger than that, which would hide a topic that was just created.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.MetadataMinAge(10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// readTopic consumes n records of topic from the start with a plain client,
// independently of the code under test.
func readTopic(t *testing.T, brokers, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records of %s", len(out), n, topic)
		fs.EachError(func(topic string, p int32, err error) {
			t.Errorf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// produce writes values to topic with a plain client, keyed by the value.
func produce(t *testing.T, brokers, topic string, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

func seqValues(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
	}
	return out
}

func newTestWriter(t *testing.T, yaml string) *franzWriter {
	t.Helper()
	conf, err := outputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	w, err := newFranzWriterFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	return w
}

func newTestReader(t *testing.T, yaml string) (*franzReader, service.BatchInput) {
	t.Helper()
	conf, err := inputSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	r, err := newFranzReaderFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	in, err := service.AutoRetryNacksBatchedToggled(conf, r)
	require.NoError(t, err)
	return r, in
}

func connect(t *testing.T, c interface{ Connect(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
}

func closeWithin(t *testing.T, c interface{ Close(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.Close(ctx))
}

// readOne reads a batch within a deadline.
func readOne(t *testing.T, in service.BatchInput) (service.MessageBatch, service.AckFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, ack, err := in.ReadBatch(ctx)
	require.NoError(t, err)
	return b, ack
}

func ackOK(t *testing.T, ack service.AckFunc) {
	t.Helper()
	require.NoError(t, ack(context.Background(), nil))
}

// position returns topic/partition/offset of a consumed message.
func position(t *testing.T, m *service.Message) (string, int32, int64) {
	t.Helper()
	topic, p, o, err := RecordPosition(m)
	require.NoError(t, err)
	return topic, p, o
}
