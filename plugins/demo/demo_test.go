package demo_test

import (
	"bufio"
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
