package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestDemoEndsWithOrdersCount runs `vendas-connect demo` as a user would,
// with ORDERS_COUNT: within 20 s it prints a table with R$ values, and it
// ends by itself, status 0, with a last table that counts every order.
// Its HTTP address is taken, so it serves on another and says so.
func TestDemoEndsWithOrdersCount(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo", "--config-dir", filepath.Dir(kafkatest.ConfigPath("produce.yaml")))
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=500", "ORDERS_RATE=1000", "ORDERS_SEED=9", "AGGREGATE_INTERVAL=500ms",
		"CONSUME_HTTP_ADDRESS="+taken.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())

	money := regexp.MustCompile(`R\$ [0-9.]+,[0-9]{2}`)
	var lines []string
	sawTable := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !sawTable && strings.HasPrefix(line, "TOTAL") && money.MatchString(line) {
			sawTable = true
			assert.Less(t, time.Since(start), 20*time.Second, "first table within 20 s")
		}
	}
	require.NoError(t, cmd.Wait(), "demo ends by itself, status 0; stderr:\n%s", stderr.String())
	require.True(t, sawTable, "a table with R$ values:\n%s", strings.Join(lines, "\n"))
	var headers []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Vendas por produto") {
			headers = append(headers, l)
		}
	}
	require.NotEmpty(t, headers)
	assert.Contains(t, headers[len(headers)-1], "pedidos 500 ", "the last table covers every order")
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], "TOTAL "), "the table is the last thing on stdout: %q", lines[len(lines)-1])

	assert.Contains(t, stderr.String(), "CONSUME_HTTP_ADDRESS "+taken.Addr().String()+" is in use")
	url := dashboardURL(t, stderr.String())
	assert.NotContains(t, url, taken.Addr().String())
}

// dashboardURL is the URL of the demo's `dashboard:` line on stderr.
func dashboardURL(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^dashboard: (http://127\.0\.0\.1:[0-9]+/)$`).FindStringSubmatch(stderr)
	require.NotNil(t, m, "a dashboard line on stderr:\n%s", stderr)
	return m[1]
}

// TestDemoServesHTTPAndStopsOnCtrlC: without ORDERS_COUNT the demo runs
// until Ctrl-C; meanwhile consume.yaml's endpoints answer at the dashboard's
// address (/metrics with the consumer's metrics), and Ctrl-C ends it cleanly
// after a last table.
func TestDemoServesHTTPAndStopsOnCtrlC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo")
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=", "ORDERS_RATE=1000", "AGGREGATE_INTERVAL=200ms", "CONSUME_HTTP_ADDRESS=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	// The dashboard line comes before the first table.
	var errLines []string
	url := ""
	esc := bufio.NewScanner(stderr)
	for url == "" && esc.Scan() {
		errLines = append(errLines, esc.Text())
		if u, ok := strings.CutPrefix(esc.Text(), "dashboard: "); ok {
			url = u
		}
	}
	require.NotEmpty(t, url, "a dashboard line on stderr:\n%s", strings.Join(errLines, "\n"))
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	sc := bufio.NewScanner(stdout)
	tables := 0
	var last string
	for sc.Scan() {
		last = sc.Text()
		if !strings.HasPrefix(last, "TOTAL ") {
			continue
		}
		tables++
		if tables == 2 {
			// Orders are counted: the consumer's metrics say so.
			resp, err := http.Get(url + "metrics")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Regexp(t, `(?m)^sales_orders_applied\{[^}]*\} [1-9]`, string(body))
			assert.Contains(t, string(body), "sales_snapshots_emitted")

			resp, err = http.Get(url + "no-such-page")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)

			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		}
	}
	require.NoError(t, cmd.Wait(), "demo ends cleanly on Ctrl-C")
	require.GreaterOrEqual(t, tables, 3, "a last table after Ctrl-C")
	assert.True(t, strings.HasPrefix(last, "TOTAL "), "the table is the last thing on stdout: %q", last)
}

// TestDemoSaysWhatItWaitsFor: when the consumer does not count the orders
// (here a consume.yaml that drops its snapshots), the demo does not end or
// hang silently: it says what it waits for, and Ctrl-C still stops it.
func TestDemoSaysWhatItWaitsFor(t *testing.T) {
	dir := editedConfig(t, "consume.yaml", "\n  processors:\n", "\n  processors:\n    - mapping: 'root = deleted()'\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo", "--config-dir", dir)
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=50", "ORDERS_RATE=0", "AGGREGATE_INTERVAL=100ms", "CONSUME_HTTP_ADDRESS=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var errLines []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		errLines = append(errLines, sc.Text())
		if strings.Contains(sc.Text(), "waiting for consume.yaml") {
			assert.Contains(t, sc.Text(), "sent its 50 orders")
			assert.Contains(t, sc.Text(), "no table yet")
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	require.NoError(t, cmd.Wait(), "demo ends cleanly on Ctrl-C; stderr:\n%s", strings.Join(errLines, "\n"))
	assert.Contains(t, strings.Join(errLines, "\n"), "waiting for consume.yaml")
}

// TestDemoLogsToStderr: the demo's stdout carries the snapshots only; the
// pipelines' warnings are on stderr.
func TestDemoLogsToStderr(t *testing.T) {
	// produce.yaml with a processor that warns about every order.
	dir := editedConfig(t, "produce.yaml", "\noutput:", "\npipeline:\n  processors:\n    - log: { level: WARN, message: demo-warning }\n\noutput:")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo", "--config-dir", dir)
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=50", "ORDERS_RATE=1000", "OUTPUT_FORMAT=json", "AGGREGATE_INTERVAL=100ms", "CONSUME_HTTP_ADDRESS=127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var lines []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.NoError(t, cmd.Wait(), "demo ends by itself; stderr:\n%s", stderr.String())
	require.NotEmpty(t, lines)
	assert.Contains(t, lines[len(lines)-1], `"pedidos":50,`, "the last snapshot counts the 50 orders")
	for _, line := range lines {
		assert.True(t, strings.HasPrefix(line, "{"), "stdout holds a line that is not a snapshot: %s", line)
	}
	assert.Equal(t, 50, strings.Count(stderr.String(), "demo-warning"), "the warnings are on stderr:\n%s", stderr.String())
}

// editedConfig is a --config-dir holding the shipped config name with old
// replaced by new; the demo takes the other config from its built-in copy.
func editedConfig(t *testing.T, name, old, new string) string {
	t.Helper()
	shipped, err := os.ReadFile(kafkatest.ConfigPath(name))
	require.NoError(t, err)
	edited := strings.Replace(string(shipped), old, new, 1)
	require.NotEqual(t, string(shipped), edited, "%s has %q", name, old)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(edited), 0o644))
	return dir
}
