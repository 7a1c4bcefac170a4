package kafka

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/redpanda-data/benthos/v4/public/service"
)

func TestOutputConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // empty: the config must be accepted
	}{
		{
			name: "minimal",
			yaml: `
seed_brokers: [ localhost:9092 ]
topic: vendas_ecommerce
`,
		},
		{
			name: "everything",
			yaml: `
seed_brokers: [ "a:9092,b:9092", c:9092 ]
topic: ${! meta("t") }
key: ${! json("id_ordem") }
partitioner: round_robin
compression: zstd
idempotent_write: false
max_in_flight: 4
timeout: 3s
max_message_bytes: 2MiB
client_id: vendas
metadata:
  include_prefixes: [ app_ ]
batching:
  count: 10
sasl:
  - mechanism: SCRAM-SHA-512
    username: u
    password: p
`,
		},
		{
			name:    "no brokers",
			yaml:    "seed_brokers: []\ntopic: t\n",
			wantErr: "field seed_brokers",
		},
		{
			name:    "only commas",
			yaml:    "seed_brokers: [ ' , ' ]\ntopic: t\n",
			wantErr: "field seed_brokers",
		},
		{
			name:    "unknown compression",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\ncompression: brotli\n",
			wantErr: `field compression: unknown compression "brotli"`,
		},
		{
			name:    "unknown partitioner",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\npartitioner: random\n",
			wantErr: `field partitioner: unknown partitioner "random"`,
		},
		{
			name:    "manual without partition",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\npartitioner: manual\n",
			wantErr: "requires the field partition",
		},
		{
			name:    "partition without manual",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\npartition: '1'\n",
			wantErr: "field partition",
		},
		{
			name:    "bad sasl mechanism",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\nsasl:\n  - mechanism: KERBEROS\n",
			wantErr: `field sasl[0].mechanism: unknown mechanism "KERBEROS"`,
		},
		{
			name:    "bad max_message_bytes",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\nmax_message_bytes: lots\n",
			wantErr: `field max_message_bytes: invalid size "lots"`,
		},
		{
			name:    "zero timeout",
			yaml:    "seed_brokers: [ a:1 ]\ntopic: t\ntimeout: 0s\n",
			wantErr: "field timeout",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := outputSpec().ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			_, err = newFranzWriterFromConfig(conf, service.MockResources())
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestInputConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{
			name: "minimal",
			yaml: "seed_brokers: [ localhost:9092 ]\ntopics: [ vendas_ecommerce ]\n",
		},
		{
			name: "everything",
			yaml: `
seed_brokers: [ "a:9092,b:9092" ]
topics: [ "x,y", z ]
consumer_group: g
start_from_oldest: false
checkpoint_limit: 10
commit_period: 1s
session_timeout: 10s
heartbeat_interval: 1s
rebalance_timeout: 20s
fetch_max_bytes: 1MiB
auto_replay_nacks: false
batching:
  count: 100
  period: 10ms
sasl:
  - mechanism: PLAIN
    username: u
    password: p
tls:
  enabled: true
  skip_cert_verify: true
`,
		},
		{
			name:    "no topics",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: []\n",
			wantErr: "field topics",
		},
		{
			name:    "explicit partitions",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ 'foo:0' ]\n",
			wantErr: `field topics: "foo:0" names explicit partitions`,
		},
		{
			name:    "no brokers",
			yaml:    "seed_brokers: [ '' ]\ntopics: [ t ]\n",
			wantErr: "field seed_brokers",
		},
		{
			name:    "checkpoint limit zero",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ t ]\ncheckpoint_limit: 0\n",
			wantErr: "field checkpoint_limit: value 0 is invalid",
		},
		{
			name:    "commit period zero",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ t ]\ncommit_period: 0s\n",
			wantErr: "field commit_period",
		},
		{
			name:    "heartbeat too slow for the session",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ t ]\nsession_timeout: 6s\nheartbeat_interval: 3s\n",
			wantErr: "fields session_timeout (6s), heartbeat_interval (3s), rebalance_timeout (45s): each must be positive and heartbeat_interval under a third of session_timeout",
		},
		{
			name:    "bad fetch_max_bytes",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ t ]\nfetch_max_bytes: 10XB\n",
			wantErr: "field fetch_max_bytes",
		},
		{
			name:    "bad sasl mechanism",
			yaml:    "seed_brokers: [ a:1 ]\ntopics: [ t ]\nsasl:\n  - mechanism: OAUTHBEARER\n",
			wantErr: `field sasl[0].mechanism: unknown mechanism "OAUTHBEARER"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := inputSpec().ParseYAML(tc.yaml, nil)
			require.NoError(t, err)
			_, err = newFranzReaderFromConfig(conf, service.MockResources())
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSeedBrokersSplitCommas(t *testing.T) {
	conf, err := outputSpec().ParseYAML("seed_brokers: [ 'a:1, b:2', c:3, '' ]\ntopic: t\n", nil)
	require.NoError(t, err)
	_, seeds, err := connectionOptsFromConfig(conf, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a:1", "b:2", "c:3"}, seeds)
}

func TestLintRules(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantLint string // empty: the config must lint clean
	}{
		{
			name: "valid pipeline",
			yaml: `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ vendas_ecommerce ]
    consumer_group: g
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: copy
    partitioner: manual
    partition: ${! meta("kafka_partition") }
`,
		},
		{
			name: "manual partitioner without partition",
			yaml: `
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: t
    partitioner: manual
`,
			wantLint: "a partition must be specified when the partitioner is set to manual",
		},
		{
			name: "partition without manual partitioner",
			yaml: `
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: t
    partition: "3"
`,
			wantLint: "a partition cannot be specified unless the partitioner is set to manual",
		},
		{
			name: "unknown compression",
			yaml: `
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: t
    compression: brotli
`,
			wantLint: "brotli",
		},
		{
			name: "explicit partitions",
			yaml: `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ "foo:0" ]
`,
			wantLint: "explicit partitions in topics",
		},
		{
			name: "empty topics",
			yaml: `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: []
`,
			wantLint: "topics must list at least one topic",
		},
		{
			name: "checkpoint limit",
			yaml: `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ t ]
    checkpoint_limit: 0
`,
			wantLint: "checkpoint_limit must be at least 1",
		},
		{
			name: "unknown sasl mechanism",
			yaml: `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ t ]
    sasl:
      - mechanism: KERBEROS
`,
			wantLint: "KERBEROS",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := service.NewStreamBuilder().SetYAML(tc.yaml)
			if tc.wantLint == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantLint)
		})
	}
}

func TestRecordPosition(t *testing.T) {
	msg := service.NewMessage(nil)
	_, _, _, err := RecordPosition(msg)
	require.Error(t, err)

	msg.MetaSetMut(MetaTopic, "t")
	msg.MetaSetMut(MetaPartition, 3)
	msg.MetaSetMut(MetaOffset, 42)
	topic, p, o, err := RecordPosition(msg)
	require.NoError(t, err)
	assert.Equal(t, "t", topic)
	assert.Equal(t, int32(3), p)
	assert.Equal(t, int64(42), o)

	// Metadata set as strings (e.g. by a mapping) works as well.
	msg.MetaSet(MetaOffset, "43")
	_, _, o, err = RecordPosition(msg)
	require.NoError(t, err)
	assert.Equal(t, int64(43), o)
}

func TestIsAuthErr(t *testing.T) {
	assert.True(t, isAuthErr(fmt.Errorf("ping: %w", kerr.SaslAuthenticationFailed)))
	assert.True(t, isAuthErr(x509.UnknownAuthorityError{}))
	assert.False(t, isAuthErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "a broker that is down comes back")
	assert.False(t, isAuthErr(errors.New("i/o timeout")))
}
