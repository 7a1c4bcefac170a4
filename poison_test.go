package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// Limits of TestPoisonRecords' topics: the orders topic takes the 600 KB
// record, the DLQ does not, so consume.yaml must write its copy cut to size.
const (
	poisonTopicMaxBytes = 2 << 20
	poisonDLQMaxBytes   = 256 << 10
	// maxReasonBytes bounds sales_rejected_reason: a field, a problem and at
	// most 64 bytes of quoted input (CONTRACT.md section 7).
	maxReasonBytes = 200
)

// poisonRecords are hostile records, each the valid template broken in one
// place (the hugePrice one also leaves valor_total unmatched, but its price
// is read first). hugePrice is the key of the 600 KB one.
func poisonRecords() (recs []badRecord, hugePrice string) {
	valid := func(key string) string { return fmt.Sprintf(validTemplate, key) }
	mk := func(key, field, old, repl string) badRecord {
		v := valid(key)
		if !strings.Contains(v, old) {
			panic(fmt.Sprintf("poison %s: %q is not in the template", key, old))
		}
		return badRecord{key: key, field: field, value: strings.Replace(v, old, repl, 1)}
	}
	name := func(key, jsonName string) badRecord {
		return mk(key, "produtos[0].nome", `"nome":"Mouse Sem Fio Logitech M170"`, `"nome":"`+jsonName+`"`)
	}
	// Random digits: no compression brings the record under the DLQ's limit.
	rng := rand.New(rand.NewPCG(10, 600))
	digits := make([]byte, 600<<10)
	digits[0] = '1'
	for i := 1; i < len(digits); i++ {
		digits[i] = byte('0' + rng.IntN(10))
	}
	hugePrice = "bad-poison-price-600kb"
	recs = []badRecord{
		mk(hugePrice, "produtos[0].preco_unitario", `"preco_unitario":59.90`, `"preco_unitario":`+string(digits)),
		name("bad-poison-name-40kb", strings.Repeat("Mouse Sem Fio ", 40_000/14+1)[:40_000]),
		name("bad-poison-name-osc-title", `\u001b]0;pwned\u0007`),
		name("bad-poison-name-newline", `\n`),
		name("bad-poison-name-clear-screen", `\u001b[2J`),
		name("bad-poison-name-bidi-override", `\u202e`),
		name("bad-poison-name-high-surrogate", `A\ud800`),
		name("bad-poison-name-high-surrogate-last", `A\udbff`),
		mk("bad-poison-date-dst-gap", "data_hora_venda", `"24/11/2026 18:03:59"`, `"04/11/2018 00:30:00"`),
		mk("bad-poison-cpf", "documento_cliente", `"529.982.247-25"`, `"529.982.247-20"`),
	}
	return append(recs, badRecords()...), hugePrice
}

// createTopicMaxBytes creates topic name (deleted after the test) with the
// given max.message.bytes and waits for its leaders.
func createTopicMaxBytes(t *testing.T, brokers, name string, partitions int32, maxBytes int) {
	t.Helper()
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, -1, map[string]*string{"max.message.bytes": kadm.StringPtr(strconv.Itoa(maxBytes))}, name)
	require.NoError(t, err)
	require.NoError(t, resp.Err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
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
}

// cpuTicks is utime+stime of process pid, in clock ticks (/proc/<pid>/stat).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// The command name, in parentheses, may hold spaces: fields follow the last ')'.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	require.Greater(t, len(fields), 13, "/proc/%d/stat: %q", pid, s)
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(t, err)
	return utime + stime
}

// clockTicks is the kernel's clock ticks per second (getconf CLK_TCK).
func clockTicks(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		t.Logf("getconf CLK_TCK: %v; assuming 100", err)
		return 100
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	require.NoError(t, err)
	return n
}

// metricsText is the body of GET url.
func metricsText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// formattedCPF is anything shaped like a whole CPF.
var formattedCPF = regexp.MustCompile(`\d{3}\.\d{3}\.\d{3}-\d{2}`)

// cpfIn is the documento_cliente of a record's value, if it has one.
var cpfIn = regexp.MustCompile(`"documento_cliente":"([^"]*)"`)

// onlyDigits is s without anything but its ASCII digits.
func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// withoutCPFSeparators is s without the characters that format a CPF, so
// that "529.982.247-20" and "52998224720" look the same.
func withoutCPFSeparators(s string) string {
	return strings.NewReplacer(".", "", "-", "", " ", "", "/", "").Replace(s)
}

// unsafeRune reports a character that must never reach a terminal or a log
// raw: C0, DEL, C1, bidirectional controls, line separators, or bytes that
// are not UTF-8.
func unsafeRune(s string) (rune, bool) {
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), r == '\u2028', r == '\u2029',
			r == '\u061c', r == '\u200e', r == '\u200f',
			r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return r, true
		}
	}
	return 0, false
}

// TestPoisonRecords is issue 10's acceptance test: hostile records mixed
// into 100 000 orders (a 600 KB number, a 40 KB name, terminal escapes, a
// bidi override, lone surrogates, a time São Paulo skipped, an invalid CPF,
// the six classes of badRecords, and a valid order with spoofed position
// headers). consume.yaml must count the orders exactly, reject every bad
// record into the DLQ with a short, safe reason that masks the CPF, cut the
// 600 KB record to the DLQ's size, keep stdout to snapshots, sit idle once
// drained, and report it all in /metrics.
func TestPoisonRecords(t *testing.T) {
	t.Parallel()
	const orders = 100_000
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.TopicName(t)
	createTopicMaxBytes(t, brokers, topic, 6, poisonTopicMaxBytes)
	createTopicMaxBytes(t, brokers, topic+"_dlq", 1, poisonDLQMaxBytes)
	t.Cleanup(func() {
		// consume.yaml created the state topic.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = kafkatest.Admin(t, brokers).DeleteTopics(ctx, topic+"_totais")
	})

	bad, hugeKey := poisonRecords()
	byKey := make(map[string]badRecord, len(bad))
	for _, b := range bad {
		require.True(t, isBadKey([]byte(b.key)), "%s: independentSum skips only bad- keys", b.key)
		require.NotContains(t, byKey, b.key, "keys are unique")
		byKey[b.key] = b
	}
	hugeValueLen := len(byKey[hugeKey].value)
	require.Greater(t, hugeValueLen, poisonDLQMaxBytes, "the 600 KB record is larger than the DLQ topic's limit")

	start := time.Now()
	before, after := bad[:len(bad)/2], bad[len(bad)/2:]
	produceBad(t, brokers, topic, before)
	produceOrders(t, brokers, topic, orders, "10")

	env := consumeEnv(brokers, topic, "poison-"+topic)
	addr := freeAddr(t)
	env["CONSUME_HTTP_ADDRESS"] = addr
	env["LOG_LEVEL"] = "INFO"
	p := startConfig(t, "consume", kafkatest.ConfigPath("consume.yaml"), env)

	// The rest arrives while the consumer runs, with a valid order whose
	// headers claim another position: it must be counted like any other.
	produceBad(t, brokers, topic, after)
	spoofed := fmt.Sprintf(validTemplate, "spoof-0")
	produceWithHeaders(t, brokers, topic, []string{spoofed}, [][]kgo.RecordHeader{{
		{Key: "kafka_offset", Value: []byte("abc")},
		{Key: "kafka_partition", Value: []byte("99")},
	}})
	const valid = orders + 1
	total := valid + len(bad)

	snap, _, err := p.WaitSnapshot(3*time.Minute, 0, func(s kafkatest.Snapshot) bool {
		return s.Orders >= valid && s.Rejected >= int64(len(bad))
	})
	require.NoError(t, err, "a snapshot with every order and every bad record")
	t.Logf("consume.yaml counted %d orders and rejected %d records %s after the first record was produced",
		snap.Orders, snap.Rejected, time.Since(start).Round(time.Millisecond))

	recs := readIndependently(t, brokers, topic, total)
	require.Len(t, recs, total, "kcat's copy of the topic")
	want := independentSum(t, recs)
	require.Equal(t, int64(valid), want.Orders, "the independent sum counts the generated orders and the spoofed one")
	assertTotals(t, want, snap)
	assert.Equal(t, int64(len(bad)), snap.Rejected, "rejeitados")

	// The DLQ: each bad record at least once, with a short, safe reason.
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
	for _, r := range dlq {
		key := string(r.Key)
		b, ok := byKey[key]
		if !assert.True(t, ok, "unexpected record in the DLQ: key %q value %.100q", key, r.Value) {
			continue
		}
		headers := map[string]string{}
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
		reason, ok := headers["sales_rejected_reason"]
		if !assert.True(t, ok, "%s: header sales_rejected_reason", key) {
			continue
		}
		t.Logf("%s: %s", key, reason)
		assert.LessOrEqual(t, len(reason), maxReasonBytes, "%s: reason of %d bytes: %.300q", key, len(reason), reason)
		assert.Contains(t, strings.ToLower(reason), strings.ToLower(b.field), "%s: the reason names the field", key)
		if c, found := unsafeRune(reason); found {
			assert.Fail(t, "raw control character in a reason", "%s: %U in %q", key, c, reason)
		}
		assert.NotRegexp(t, formattedCPF, reason, "%s: a whole CPF in the reason", key)
		if m := cpfIn.FindStringSubmatch(b.value); m != nil {
			cpf := m[1]
			assert.NotContains(t, reason, cpf, "%s: the CPF in the reason", key)
			if d := onlyDigits(cpf); len(d) == 11 {
				assert.NotContains(t, withoutCPFSeparators(reason), d, "%s: the CPF's 11 digits in the reason", key)
			}
		}
		assert.Equal(t, topic, headers["kafka_topic"], "%s: kafka_topic header", key)

		if key == hugeKey {
			assert.Equal(t, "true", headers["kafka_truncated"], "%s: the DLQ copy is cut to size", key)
			assert.Equal(t, strconv.Itoa(hugeValueLen), headers["kafka_original_size"], "%s: kafka_original_size", key)
			assert.Less(t, len(r.Value), poisonDLQMaxBytes, "%s: the cut value fits the DLQ topic", key)
			assert.True(t, strings.HasPrefix(b.value, string(r.Value)), "%s: the cut value is the start of the original", key)
			t.Logf("%s: DLQ copy cut from %s to %d bytes", key, headers["kafka_original_size"], len(r.Value))
			continue
		}
		assert.Equal(t, b.value, string(r.Value), "%s: the DLQ keeps the original bytes", key)
		assert.NotContains(t, headers, "kafka_truncated", "%s: not truncated", key)
	}
	for _, b := range bad {
		assert.True(t, seen[b.key], "%s is in %s_dlq", b.key, topic)
	}
	t.Logf("%s_dlq: %d records for %d bad ones", topic, len(dlq), len(bad))

	// Drained: the process must sit nearly idle, with no retry storm.
	tck := clockTicks(t)
	stderrBefore := len(strings.Split(p.Stderr(), "\n"))
	stdoutBefore := len(p.Stdout())
	cpuBefore := cpuTicks(t, p.Pid())
	window := time.NewTimer(3 * time.Second) // a measurement, not a wait for anything
	<-window.C
	cpuUsed := float64(cpuTicks(t, p.Pid())-cpuBefore) / float64(tck)
	stderrGrowth := len(strings.Split(p.Stderr(), "\n")) - stderrBefore
	t.Logf("idle for 3s: %.2f CPU-seconds, %d stderr lines, %d stdout lines", cpuUsed, stderrGrowth, len(p.Stdout())-stdoutBefore)
	assert.Less(t, cpuUsed, 0.3, "CPU-seconds used in 3s once the topic is drained")
	if !assert.LessOrEqual(t, stderrGrowth, 3, "stderr lines in 3s once the topic is drained") {
		lines := strings.Split(p.Stderr(), "\n")
		t.Logf("the last of them:\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}

	// /metrics agrees with the snapshot.
	url := "http://" + addr + "/metrics"
	var got map[string]float64
	require.NoError(t, p.WaitUntil(30*time.Second, func() bool {
		got, err = scrape(t, url)
		return err == nil && got["sales_orders_applied"] >= valid && got["sales_records_rejected"] >= float64(len(bad))
	}), "no /metrics with every order applied: %v %v", err, got)
	text := metricsText(t, url)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "sales_") || strings.HasPrefix(line, "kafka_consumed_records") {
			t.Logf("metric: %s", line)
		}
	}
	assert.Equal(t, float64(valid), got["sales_orders_applied"], "sales_orders_applied")
	assert.Equal(t, float64(len(bad)), got["sales_records_rejected"], "sales_records_rejected")
	assert.GreaterOrEqual(t, got["kafka_consumed_records"], float64(total), "kafka_consumed_records")

	require.NoError(t, p.Stop(30*time.Second), "a clean stop ends with status 0")

	// stdout is data only; the logs (stderr) and metrics carry no CPF and no
	// raw control character from the poison.
	for i, line := range p.Stdout() {
		assert.True(t, kafkatest.IsSnapshotLine(line), "stdout line %d is not a JSON snapshot: %.200q", i+1, line)
	}
	stderr := p.Stderr()
	for _, cpf := range []string{"529.982.247-20", "52998224720"} {
		assert.NotContains(t, stderr, cpf, "a CPF in the logs")
		assert.NotContains(t, text, cpf, "a CPF in /metrics")
	}
	for i, line := range strings.Split(stderr, "\n") {
		if c, found := unsafeRune(line); found {
			assert.Fail(t, "raw control character in the logs", "stderr line %d: %U in %.300q", i+1, c, line)
		}
	}
	t.Logf("TestPoisonRecords took %s", time.Since(start).Round(time.Millisecond))
}
