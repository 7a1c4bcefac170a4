package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// manyBad makes n invalid records, the six classes of badRecords in turn,
// each with its own key (bad-<class>-<i>) and id.
func manyBad(n int) []badRecord {
	classes := badRecords()
	out := make([]badRecord, n)
	for i := range out {
		c := classes[i%len(classes)]
		key := fmt.Sprintf("%s-%d", c.key, i)
		out[i] = badRecord{key: key, field: c.field, value: strings.Replace(c.value, `"`+c.key+`"`, `"`+key+`"`, 1)}
	}
	return out
}

// assertDLQHolds checks that every bad record reached <topic>_dlq at least
// once with a reason naming its field, and that nothing else did.
func assertDLQHolds(t *testing.T, brokers, topic string, bad []badRecord) {
	t.Helper()
	want := make(map[string]*badRecord, len(bad))
	for i := range bad {
		want[bad[i].key] = &bad[i]
	}
	var dlq []*kgo.Record
	seen := map[string]bool{}
	require.Eventually(t, func() bool {
		dlq = readAll(t, brokers, topic+"_dlq")
		clear(seen)
		for _, r := range dlq {
			seen[string(r.Key)] = true
		}
		return len(seen) >= len(bad)
	}, 60*time.Second, 200*time.Millisecond, "the DLQ holds %d distinct records of %d", len(seen), len(bad))
	wrong := 0
	for _, r := range dlq {
		b := want[string(r.Key)]
		if b == nil {
			t.Errorf("unexpected record in the DLQ: key %q value %.100q", r.Key, r.Value)
			continue
		}
		var reason string
		for _, h := range r.Headers {
			if h.Key == "sales_rejected_reason" {
				reason = string(h.Value)
			}
		}
		if string(r.Value) != b.value || !strings.Contains(strings.ToLower(reason), strings.ToLower(b.field)) {
			if wrong++; wrong < 5 {
				t.Errorf("DLQ record %s: value %.80q reason %q; want the original value and a reason naming %s", r.Key, r.Value, reason, b.field)
			}
		}
	}
	assert.Zero(t, wrong, "DLQ records with a wrong value or reason")
	t.Logf("%s_dlq: %d records for %d bad ones", topic, len(dlq), len(bad))
}

// TestScaleOut is issue 9's acceptance scenario: three consume.yaml
// processes in one group on a 6-partition topic while 300 000 orders and
// about 10% bad records arrive; members are killed with kill -9 and started
// again, one leaves cleanly, one joins, one is frozen with SIGSTOP past the
// session timeout and resumed. At the end every member prints the exact
// totals over the whole topic, and every bad record is in the DLQ.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	const orders, nBad = 300_000, 30_000
	brokers := kafkatest.Brokers(t)
	embedded := os.Getenv("KAFKA_BROKERS") == ""
	topic := kafkatest.CreateTopic(t, brokers, 6)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	group := "scale-" + topic
	env := consumeEnv(brokers, topic, group)
	env["AGGREGATE_INTERVAL"] = "200ms"
	rng := rand.New(rand.NewPCG(9, 9))

	var mu sync.Mutex
	members := map[string]*kafkatest.Process{}
	n := 0
	start := func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		name := fmt.Sprintf("consumer %d", n)
		members[name] = startConfig(t, name, kafkatest.ConfigPath("consume.yaml"), env)
		return name
	}
	pick := func() (string, *kafkatest.Process) {
		mu.Lock()
		defer mu.Unlock()
		names := make([]string, 0, len(members))
		for k := range members {
			names = append(names, k)
		}
		slices.Sort(names)
		name := names[rng.IntN(len(names))]
		return name, members[name]
	}
	remove := func(name string) {
		mu.Lock()
		delete(members, name)
		mu.Unlock()
	}
	// progress waits until some member's snapshot counts more than before.
	counted := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		var best int64
		for _, p := range members {
			if s, ok := p.LastSnapshot(); ok {
				best = max(best, s.Orders)
			}
		}
		return best
	}
	progress := func(what string) {
		before := counted()
		require.Eventually(t, func() bool { return counted() > before }, 90*time.Second, 50*time.Millisecond, "no progress after %s", what)
	}

	for range 3 {
		start()
	}
	// Orders at 5000/s for about a minute, bad records alongside.
	prodEnv := produceEnv(brokers, topic, orders, "5000", "9")
	producer := startConfig(t, "produce", kafkatest.ConfigPath("produce.yaml"), prodEnv)
	bad := manyBad(nBad)
	badDone := make(chan struct{})
	go func() {
		defer close(badDone)
		for i := 0; i < len(bad); i += 1000 {
			produceBadT(t, brokers, topic, bad[i:min(i+1000, len(bad))])
			time.Sleep(time.Second)
		}
	}()
	progress("the start")

	for i := range 6 {
		name, p := pick()
		p.Kill()
		remove(name)
		t.Logf("kill -9 %s (%d)", name, i+1)
		if embedded {
			// kfake holds a rebalance past the client's timeout while a
			// killed member's session runs out; do what the session timeout
			// does on Kafka (the live members rejoin at once).
			evictGroupMembers(t, brokers, group)
		}
		start()
		progress("kill -9 of " + name)
	}
	name, p := pick()
	require.NoError(t, p.Stop(30*time.Second), "%s: a clean leave ends with status 0", name)
	remove(name)
	t.Logf("%s left cleanly", name)
	progress("a clean leave")
	t.Logf("%s joined", start())
	progress("a join")

	name, p = pick()
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGSTOP))
	t.Logf("%s frozen (SIGSTOP) for 13s, past the 10s session timeout", name)
	frozen := time.Now()
	progress("a member froze")
	time.Sleep(13*time.Second - time.Since(frozen))
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGCONT))
	t.Logf("%s resumed", name)

	require.NoError(t, producer.Wait(5*time.Minute), "produce.yaml ends by itself")
	<-badDone
	recs := readIndependently(t, brokers, topic, orders+nBad)
	require.Len(t, recs, orders+nBad)
	want := independentSum(t, recs)
	require.Equal(t, int64(orders), want.Orders)

	mu.Lock()
	final := make(map[string]*kafkatest.Process, len(members))
	for k, v := range members {
		final[k] = v
	}
	mu.Unlock()
	for name, p := range final {
		s, _, err := p.WaitSnapshot(3*time.Minute, 0, func(s kafkatest.Snapshot) bool {
			return s.Orders >= orders && s.Rejected >= nBad
		})
		require.NoError(t, err, "%s never printed the whole total", name)
		assert.Equal(t, int64(nBad), s.Rejected, "%s: rejeitados", name)
		assertTotals(t, want, s)
		assertOffsetsComplete(t, brokers, topic, s)
		t.Logf("%s: pedidos=%d rejeitados=%d, equal to the independent sum", name, s.Orders, s.Rejected)
	}
	assertDLQHolds(t, brokers, topic, bad)
	for name, p := range final {
		require.NoError(t, p.Stop(30*time.Second), "%s: a clean stop ends with status 0", name)
		last, ok := p.LastSnapshot()
		require.True(t, ok)
		assertTotals(t, want, last)
	}
}

// produceBadT is produceBad from a goroutine other than the test's.
func produceBadT(t *testing.T, brokers, topic string, recs []badRecord) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	batch := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		batch[i] = &kgo.Record{Topic: topic, Key: []byte(r.key), Value: []byte(r.value)}
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		t.Errorf("producing bad records: %v", err)
	}
}
