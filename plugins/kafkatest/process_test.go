package kafkatest

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary act as a child process (see TestMain).
const helperEnv = "KAFKATEST_HELPER_PROCESS"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperProcess(mode))
	}
	os.Exit(m.Run())
}

// helperProcess stands in for vendas-connect: it prints snapshots, logs to
// stderr and stops on SIGINT, as the real binary does.
func helperProcess(mode string) int {
	ints := make(chan os.Signal, 1)
	signal.Notify(ints, syscall.SIGINT)
	switch mode {
	case "snapshots":
		fmt.Println("not a snapshot")
		for i := 1; i <= 3; i++ {
			fmt.Printf(`{"pedidos":%d,"rejeitados":1,"valor_total":%d.50,"produtos":[{"produto":"A","quantidade":%d,"pedidos":%d,"valor_total":%d.50}],"offsets":{"t":{"0":%d}}}`+"\n", i, i, 2*i, i, i, i)
		}
		fmt.Fprintln(os.Stderr, `level=error msg="SASL authentication failed"`)
		fmt.Println("env:" + os.Getenv("KAFKA_TOPIC") + ":" + os.Getenv("STATE_DIR"))
		<-ints
		fmt.Println("stopped")
		return 0
	case "exit3":
		fmt.Println("bye")
		return 3
	}
	return 2
}

func startHelper(t *testing.T, mode string, env map[string]string) *Process {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	if env == nil {
		env = map[string]string{}
	}
	env[helperEnv] = mode
	return StartProcess(t, "helper "+mode, env, exe, "-test.run=^$")
}

func TestProcessSnapshotsAndStop(t *testing.T) {
	t.Setenv("STATE_DIR", "/from/the/test/environment")
	p := startHelper(t, "snapshots", map[string]string{"KAFKA_TOPIC": "given"})

	s, next, err := p.WaitSnapshot(10*time.Second, 0, func(s Snapshot) bool { return s.Orders >= 2 })
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.Orders)
	assert.Equal(t, int64(1), s.Rejected)
	assert.Equal(t, map[string]ProductSum{"A": {Units: 4, Orders: 2, Cents: 250}}, s.Products)
	assert.Equal(t, map[string]map[string]int64{"t": {"0": 2}}, s.Offsets)
	assert.Equal(t, 3, next, "the line after the snapshot")

	_, _, err = p.WaitSnapshot(10*time.Second, next, func(s Snapshot) bool { return s.Orders == 3 })
	require.NoError(t, err)

	line, err := p.WaitOutput(10*time.Second, "sasl", "AUTHENTICATION")
	require.NoError(t, err)
	assert.Contains(t, line, "level=error")
	_, err = p.WaitOutput(10*time.Second, "env:")
	require.NoError(t, err)
	assert.Contains(t, p.Stdout(), "env:given:", "config variables come from the test only")

	err = p.WaitUntil(100*time.Millisecond, func() bool { return false })
	require.Error(t, err, "a condition that never holds times out")

	require.NoError(t, p.Stop(10*time.Second))
	assert.Equal(t, "stopped", p.Stdout()[len(p.Stdout())-1])
	last, ok := p.LastSnapshot()
	require.True(t, ok)
	assert.Equal(t, int64(3), last.Orders)
	_, _, err = p.WaitSnapshot(time.Second, 0, func(s Snapshot) bool { return s.Orders == 99 })
	assert.ErrorIs(t, err, ErrExited)
}

func TestProcessKillAndExitCode(t *testing.T) {
	p := startHelper(t, "snapshots", nil)
	_, _, err := p.WaitSnapshot(10*time.Second, 0, func(Snapshot) bool { return true })
	require.NoError(t, err)
	p.Kill()
	require.True(t, p.Exited())
	var exit *exec.ExitError
	require.ErrorAs(t, p.ExitErr(), &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal())
	assert.NotContains(t, p.Stdout(), "stopped", "SIGKILL leaves no time to shut down")

	q := startHelper(t, "exit3", nil)
	err = q.Wait(10 * time.Second)
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 3, exit.ExitCode())
	assert.Equal(t, []string{"bye"}, q.Stdout())
}

func TestParseSnapshot(t *testing.T) {
	line := `{"pedidos":3,"rejeitados":1,"valor_total":7499.80,"produtos":[{"produto":"Notebook","quantidade":2,"pedidos":2,"valor_total":6999.80},{"produto":"Mouse","quantidade":5,"pedidos":1,"valor_total":500.00}],"modo":"complete","offsets":{"vendas_ecommerce":{"0":3}},"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":7}`
	require.True(t, IsSnapshotLine(line))
	s, err := ParseSnapshot(line)
	require.NoError(t, err)
	assert.Equal(t, Snapshot{
		Orders: 3, Rejected: 1, Line: line,
		Products: map[string]ProductSum{"Notebook": {Units: 2, Orders: 2, Cents: 699980}, "Mouse": {Units: 5, Orders: 1, Cents: 50000}},
		Offsets:  map[string]map[string]int64{"vendas_ecommerce": {"0": 3}},
	}, s)

	for _, bad := range []string{
		`{"pedidos":1,"produtos":[{"produto":"A","valor_total":1.001}]}`,
		`{"pedidos":1,"produtos":[{"produto":"A","valor_total":1},{"produto":"A","valor_total":1}]}`,
		`{"rejeitados":1}`,
		`{"pedidos":`,
	} {
		_, err := ParseSnapshot(bad)
		assert.Error(t, err, bad)
	}
	assert.False(t, IsSnapshotLine(`time="…" level=info msg="pedidos"`))
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "KAFKA_BROKERS=x", "STATE_DIR=/s", "STATE_DIRECTORY=keep", "HOME=/h"},
		map[string]string{"KAFKA_TOPIC": "t", "HOME": "/other"})
	assert.ElementsMatch(t, []string{"PATH=/bin", "STATE_DIRECTORY=keep", "KAFKA_TOPIC=t", "HOME=/other"}, got)
}
