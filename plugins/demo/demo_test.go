package demo_test

import (
	"bufio"
	"bytes"
	"context"
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

// TestDemoShowsTable runs `vendas-connect demo` as a user would: within 20 s
// it prints a table with R$ values, and on Ctrl-C it ends cleanly with a last
// table covering every order produced.
func TestDemoShowsTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo", "--config-dir", filepath.Dir(kafkatest.ConfigPath("produce.yaml")))
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=500", "ORDERS_RATE=1000", "ORDERS_SEED=9", "AGGREGATE_INTERVAL=500ms")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())

	money := regexp.MustCompile(`R\$ [0-9.]+,[0-9]{2}`)
	var lines []string
	sawTable, signalled := false, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if !sawTable && strings.HasPrefix(line, "TOTAL") && money.MatchString(line) {
			sawTable = true
			assert.Less(t, time.Since(start), 20*time.Second, "first table within 20 s")
		}
		if !signalled && strings.Contains(line, "pedidos 500 ") {
			signalled = true
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		}
	}
	require.NoError(t, cmd.Wait(), "demo ends cleanly on Ctrl-C")
	require.True(t, sawTable, "a table with R$ values:\n%s", strings.Join(lines, "\n"))
	var headers []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Vendas por produto") {
			headers = append(headers, l)
		}
	}
	require.NotEmpty(t, headers)
	assert.Contains(t, headers[len(headers)-1], "pedidos 500 ", "the last table covers every order")
}

// TestDemoLogsToStderr: the demo's stdout carries the snapshots only; the
// pipelines' warnings are on stderr.
func TestDemoLogsToStderr(t *testing.T) {
	dir := t.TempDir()
	produce, err := os.ReadFile(kafkatest.ConfigPath("produce.yaml"))
	require.NoError(t, err)
	// produce.yaml with a processor that warns about every order; consume.yaml
	// comes from the copy built into the binary.
	warning := strings.Replace(string(produce), "\noutput:", "\npipeline:\n  processors:\n    - log: { level: WARN, message: demo-warning }\n\noutput:", 1)
	require.NotEqual(t, string(produce), warning)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "produce.yaml"), []byte(warning), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "demo", "--config-dir", dir)
	cmd.Env = append(os.Environ(), "ORDERS_COUNT=50", "ORDERS_RATE=1000", "OUTPUT_FORMAT=json", "AGGREGATE_INTERVAL=100ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var lines []string
	signalled := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && strings.Contains(sc.Text(), `"pedidos":50,`) {
			signalled = true
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		}
	}
	require.NoError(t, cmd.Wait(), "demo ends cleanly on Ctrl-C; stderr:\n%s", stderr.String())
	require.True(t, signalled, "a snapshot of the 50 orders:\n%s", strings.Join(lines, "\n"))
	for _, line := range lines {
		assert.True(t, strings.HasPrefix(line, "{"), "stdout holds a line that is not a snapshot: %s", line)
	}
	assert.Equal(t, 50, strings.Count(stderr.String(), "demo-warning"), "the warnings are on stderr:\n%s", stderr.String())
}
