// Package kafkatest holds what tests that need a Kafka broker share: which
// broker to use (a real Apache Kafka from KAFKA_BROKERS, as CI provides, or
// an embedded one), unique topics, an independent reader of a topic (kcat)
// and an independent sum of the orders in it.
package kafkatest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/devbroker"
)

// RequireEnv, when set (CI sets it), turns every skip for a missing real
// broker or kcat into a failure: CI must never skip the Kafka tests.
const RequireEnv = "VENDAS_REQUIRE_KAFKA"

var (
	embeddedOnce sync.Once
	embedded     *devbroker.Broker
	embeddedErr  error
	topicSeq     atomic.Int64
)

// Brokers returns the seed brokers for a test: KAFKA_BROKERS when set (a real
// Apache Kafka), otherwise an embedded kfake broker shared by the test binary,
// so the tests always run.
func Brokers(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Logf("using Kafka from KAFKA_BROKERS=%s", env)
		return env
	}
	embeddedOnce.Do(func() {
		embedded, embeddedErr = devbroker.Start(context.Background(), devbroker.Options{Addr: "127.0.0.1:0", Partitions: 6})
	})
	require.NoError(t, embeddedErr)
	t.Logf("using the embedded kfake broker at %s (set KAFKA_BROKERS to test a real Kafka)", embedded.Addr())
	return embedded.Addr()
}

// RealBrokers returns KAFKA_BROKERS, skipping the test when it is unset
// (failing instead when RequireEnv is set).
func RealBrokers(t testing.TB) string {
	t.Helper()
	env := os.Getenv("KAFKA_BROKERS")
	if env == "" {
		SkipOrFail(t, "needs a real Apache Kafka: run .ci/kafka start and export KAFKA_BROKERS")
	}
	return env
}

// SkipOrFail skips with reason, or fails when RequireEnv is set.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set, so this must not be skipped)", reason, RequireEnv)
	}
	t.Skip(reason)
}

var nonTopicChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// TopicName is a topic name unique to this test and run.
func TopicName(t testing.TB) string {
	name := fmt.Sprintf("test_%s_%d_%d", nonTopicChars.ReplaceAllString(t.Name(), "_"), time.Now().UnixNano(), topicSeq.Add(1))
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return name
}

// Admin returns an admin client closed with the test.
func Admin(t testing.TB, brokers string) *kadm.Client {
	t.Helper()
	// A short metadata min age: kgo serves metadata requests from a cache
	// younger than that, which would hide a topic that was just created.
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.MetadataMinAge(10*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// CreateTopic creates a topic unique to this test (deleted after it) with the
// given partitions and waits until every partition has a leader.
func CreateTopic(t testing.TB, brokers string, partitions int32) string {
	t.Helper()
	name := TopicName(t)
	CreateNamedTopic(t, brokers, name, partitions)
	return name
}

// CreateNamedTopic creates topic name (deleted after the test) and waits for
// its leaders.
func CreateNamedTopic(t testing.TB, brokers, name string, partitions int32) {
	t.Helper()
	adm := Admin(t, brokers)
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
}

// ReadTopic consumes n records of topic from the start with a plain franz-go
// client, independently of the code under test.
func ReadTopic(t testing.TB, brokers, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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

// Produce writes the values to topic with a plain client, keyed by keys[i]
// (or by the value when keys is nil), and waits for the broker's acks.
func Produce(t testing.TB, brokers, topic string, keys, values [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ProducerLinger(5*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		k := v
		if keys != nil {
			k = keys[i]
		}
		recs[i] = &kgo.Record{Topic: topic, Key: k, Value: v}
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds vendas-connect once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "vendas-connect-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "vendas-connect")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// Main runs a package's tests, then removes the binary Binary built and
// stops the embedded broker. Call it from TestMain in packages that use
// either.
func Main(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	if embedded != nil {
		embedded.Close()
	}
	os.Exit(code)
}

// ConfigPath is the path of a shipped config, such as "produce.yaml".
func ConfigPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config", name)
}
