package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// The broker, topic and reading helpers are shared with the other packages'
// tests in plugins/kafkatest; these adapt them to this package's tests.
var (
	testBrokers = func(t *testing.T) string { return kafkatest.Brokers(t) }
	createTopic = func(t *testing.T, brokers string, partitions int32) string {
		return kafkatest.CreateTopic(t, brokers, partitions)
	}
	newAdmin  = func(t *testing.T, brokers string) *kadm.Client { return kafkatest.Admin(t, brokers) }
	readTopic = func(t *testing.T, brokers, topic string, n int) []*kgo.Record {
		return kafkatest.ReadTopic(t, brokers, topic, n)
	}
)

// produce writes values to topic with a plain client, keyed by the value.
func produce(t *testing.T, brokers, topic string, values []string) {
	t.Helper()
	vals := make([][]byte, len(values))
	for i, v := range values {
		vals[i] = []byte(v)
	}
	kafkatest.Produce(t, brokers, topic, nil, vals)
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
	return r, r
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

// readValue reads a batch within a deadline and returns its first message's
// value.
func readValue(t *testing.T, in service.BatchInput) (string, service.AckFunc) {
	t.Helper()
	b, ack := readOne(t, in)
	require.NotEmpty(t, b)
	v, err := b[0].AsBytes()
	require.NoError(t, err)
	return string(v), ack
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
