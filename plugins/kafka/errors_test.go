package kafka

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// refusingSASLBroker is an embedded broker with SCRAM-SHA-512 that refuses
// every authentication the way Apache Kafka refuses a wrong password
// (kfake itself would just close the connection).
func refusingSASLBroker(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser(saslScramSHA512, "vendas", "right"),
		kfake.SeedTopics(1, "vendas_ecommerce"),
	)
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	cluster.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	return cluster.ListenAddrs()[0]
}

// exitRecorder replaces the process exit for a test.
type exitRecorder struct {
	mu    sync.Mutex
	codes []int
}

func recordExits(t *testing.T) *exitRecorder {
	rec := &exitRecorder{}
	t.Cleanup(setExitHook(func(code int) {
		rec.mu.Lock()
		rec.codes = append(rec.codes, code)
		rec.mu.Unlock()
	}))
	return rec
}

func (r *exitRecorder) Codes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.codes...)
}

// TestOutputStopsOnAuthFailure: a password the broker refuses is not a
// transient error; the output ends the process with a message saying what to
// check, instead of retrying every 30s forever.
func TestOutputStopsOnAuthFailure(t *testing.T) {
	type target struct{ name, brokers, user string }
	targets := []target{{"embedded", refusingSASLBroker(t), "vendas"}}
	if addr := os.Getenv("KAFKA_SCRAM_BROKERS"); addr != "" {
		targets = append(targets, target{"real Kafka", addr, os.Getenv("KAFKA_SCRAM_USER")})
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			exits := recordExits(t)
			log, buf := capturingLogger()
			conf, err := outputSpec().ParseYAML(fmt.Sprintf(`
seed_brokers: [ %q ]
topic: vendas_ecommerce
sasl:
  - mechanism: SCRAM-SHA-512
    username: %s
    password: wrong
`, tg.brokers, tg.user), nil)
			require.NoError(t, err)
			w, err := newFranzWriterFromConfig(conf, service.MockResources(service.MockResourcesOptUseLogger(log)))
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = w.Connect(ctx)
			require.Error(t, err)
			assert.Equal(t, []int{exitFatal}, exits.Codes(), "the process is stopped, once")
			assert.Contains(t, buf.String(), "refused our credentials, stopping")
			assert.Contains(t, buf.String(), "KAFKA_SASL_PASSWORD")
			assert.Contains(t, buf.String(), "SASL_AUTHENTICATION_FAILED")
		})
	}
}

// TestProduceYAMLExitsOnAuthFailure runs the shipped produce.yaml with a
// wrong password: it must end by itself, non-zero, with a clear message.
func TestProduceYAMLExitsOnAuthFailure(t *testing.T) {
	brokers := refusingSASLBroker(t)
	if addr := os.Getenv("KAFKA_SCRAM_BROKERS"); addr != "" {
		brokers = addr
		t.Logf("using the SCRAM listener of KAFKA_SCRAM_BROKERS=%s", addr)
	}
	start := time.Now()
	p := kafkatest.StartProcess(t, "produce.yaml", map[string]string{
		"KAFKA_BROKERS":        brokers,
		"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME":  "vendas",
		"KAFKA_SASL_PASSWORD":  "wrong",
		"ORDERS_COUNT":         "10",
		"PRODUCE_HTTP_ADDRESS": "127.0.0.1:0",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("produce.yaml"))
	err := p.Wait(30 * time.Second)
	require.Error(t, err, "a wrong password must end the process with a non-zero status:\n%s", p.Output())
	assert.NotContains(t, err.Error(), "still running", p.Output())
	assert.Contains(t, p.Output(), "refused our credentials, stopping")
	t.Logf("ended after %v with %v", time.Since(start).Round(time.Millisecond), err)
}

// silentServer accepts connections and never answers, like an HTTP server
// waiting for a request line.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// answeringServer replies to anything with an HTTP error, as a web server
// does to a request it cannot parse.
func answeringServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestOutputNamesANonKafkaAddress: a seed broker address where something
// other than Kafka answers is named within seconds, not after a 20s i/o
// timeout.
func TestOutputNamesANonKafkaAddress(t *testing.T) {
	cases := []struct {
		name string
		addr string
		want string
	}{
		{"silent", silentServer(t), "sent no reply to a Kafka request"},
		{"answers HTTP", answeringServer(t), `it answered "HTTP/1.1 400 Bad Request"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %q ]\ntopic: t\n", tc.addr))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := w.Connect(ctx)
			took := time.Since(start)
			require.Error(t, err)
			assert.Less(t, took, 5*time.Second, "said within 5s")
			assert.Contains(t, err.Error(), tc.addr+" did not answer as a Kafka broker")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestProbeBroker checks the probe against a real broker (it must pass) and
// against addresses where nothing listens.
func TestProbeBroker(t *testing.T) {
	brokers := testBrokers(t)
	ctx := context.Background()
	for _, addr := range strings.Split(brokers, ",") {
		require.NoError(t, probeBroker(ctx, addr, nil, probeTimeout), "a Kafka broker answers the probe")
	}
	err := probeBroker(ctx, "127.0.0.1:1", nil, probeTimeout)
	require.Error(t, err)
	_, isNotKafka := err.(*notKafkaError)
	assert.False(t, isNotKafka, "connection refused is reported as such: %v", err)

	// One good seed is enough.
	require.NoError(t, checkSeedBrokers(ctx, []string{silentServer(t), strings.Split(brokers, ",")[0]}, nil, probeTimeout))
	err = checkSeedBrokers(ctx, []string{"127.0.0.1:1", answeringServer(t)}, nil, probeTimeout)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
	assert.Contains(t, err.Error(), "did not answer as a Kafka broker")
}
