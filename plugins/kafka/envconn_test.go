package kafka

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEnvClientOpts: the subcommands reach a broker that requires SASL
// with the shipped configs' environment variables, a wrong password is
// refused, and a bad value is named.
func TestEnvClientOpts(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser(saslScramSHA512, "vendas", "segredo"), kfake.SeedTopics(1, "t"))
	require.NoError(t, err)
	defer cluster.Close()
	targets := [][4]string{{cluster.ListenAddrs()[0], saslScramSHA512, "vendas", "segredo"}}
	if addr := os.Getenv("KAFKA_SCRAM_BROKERS"); addr != "" {
		targets = append(targets, [4]string{addr, os.Getenv("KAFKA_SCRAM_MECHANISM"), os.Getenv("KAFKA_SCRAM_USER"), os.Getenv("KAFKA_SCRAM_PASSWORD")})
	}
	topics := func(t *testing.T, brokers string) error {
		opts, err := EnvClientOpts([]string{brokers})
		require.NoError(t, err)
		cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(5*time.Second))...)
		require.NoError(t, err)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = kadm.NewClient(cl).ListTopics(ctx)
		return err
	}
	for _, tg := range targets {
		t.Setenv(EnvSASLMechanism, tg[1])
		t.Setenv(EnvSASLUsername, tg[2])
		t.Setenv(EnvSASLPassword, tg[3])
		assert.NoError(t, topics(t, tg[0]), "%s with %s", tg[0], tg[1])
		t.Setenv(EnvSASLPassword, "errada")
		assert.Error(t, topics(t, tg[0]), "%s: a wrong password must not connect", tg[0])
	}

	t.Setenv(EnvSASLMechanism, "SCRAM-SHA-1")
	_, err = EnvClientOpts([]string{"127.0.0.1:1"})
	assert.ErrorContains(t, err, `unknown mechanism "SCRAM-SHA-1"`)
	assert.ErrorContains(t, err, EnvSASLMechanism)
	t.Setenv(EnvSASLMechanism, "")
	t.Setenv(EnvTLS, "sim")
	_, err = EnvClientOpts([]string{"127.0.0.1:1"})
	assert.ErrorContains(t, err, `KAFKA_TLS="sim": not true or false`)
}
