package kafka

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestSASL writes and reads through a broker that requires authentication:
// an embedded one with a user per mechanism, and the real Kafka's SCRAM
// listener when KAFKA_SCRAM_BROKERS is set (as .ci/kafka provides).
func TestSASL(t *testing.T) {
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser(saslPlain, "plain_user", "plain_pass"),
		kfake.Superuser(saslScramSHA256, "scram256_user", "scram256_pass"),
		kfake.Superuser(saslScramSHA512, "scram512_user", "scram512_pass"),
		kfake.SeedTopics(2, "sasl_topic"),
	)
	require.NoError(t, err)
	defer cluster.Close()
	embedded := cluster.ListenAddrs()[0]

	type target struct {
		name, brokers, topic, mech, user, pass string
	}
	targets := []target{
		{"embedded PLAIN", embedded, "sasl_topic", saslPlain, "plain_user", "plain_pass"},
		{"embedded SCRAM-SHA-256", embedded, "sasl_topic", saslScramSHA256, "scram256_user", "scram256_pass"},
		{"embedded SCRAM-SHA-512", embedded, "sasl_topic", saslScramSHA512, "scram512_user", "scram512_pass"},
	}
	if addr := os.Getenv("KAFKA_SCRAM_BROKERS"); addr != "" {
		t.Logf("also testing the SCRAM listener of KAFKA_SCRAM_BROKERS=%s", addr)
		targets = append(targets, target{
			"real Kafka " + os.Getenv("KAFKA_SCRAM_MECHANISM"), addr, "vendas_ecommerce",
			os.Getenv("KAFKA_SCRAM_MECHANISM"), os.Getenv("KAFKA_SCRAM_USER"), os.Getenv("KAFKA_SCRAM_PASSWORD"),
		})
	}

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			sasl := fmt.Sprintf("sasl:\n  - mechanism: %s\n    username: %s\n    password: %s\n", tg.mech, tg.user, tg.pass)
			value := fmt.Sprintf("sasl-%s-%d", tg.mech, time.Now().UnixNano())

			w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\n%s", tg.brokers, tg.topic, sasl))
			connect(t, w)
			require.NoError(t, w.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte(value))}))
			closeWithin(t, w)

			_, in := newTestReader(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopics: [ %s ]\n%s", tg.brokers, tg.topic, sasl))
			connect(t, in)
			defer closeWithin(t, in)
			for {
				b, ack := readOne(t, in)
				ackOK(t, ack)
				if v, _ := b[0].AsBytes(); string(v) == value {
					break
				}
			}

			bad := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: %s\nsasl:\n  - mechanism: %s\n    username: %s\n    password: wrong\n", tg.brokers, tg.topic, tg.mech, tg.user))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := bad.Connect(ctx)
			require.Error(t, err, "a wrong password must not connect")
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "authentication failures are reported, not waited out")
		})
	}
}
