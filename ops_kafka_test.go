package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// kafkaScript runs .ci/kafka with instancesDir as its KAFKA_INSTANCES_DIR
// and env added; none of the caller's instance settings leak in. It returns
// stdout, and stderr too on error.
func kafkaScript(t *testing.T, instancesDir string, env []string, args ...string) (string, error) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(".ci", "kafka"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KAFKA_STATE_DIR", "KAFKA_INSTANCE", "KAFKA_INSTANCES_DIR", "KAFKA_PORT", "KAFKA_HEAP_OPTS":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "KAFKA_INSTANCES_DIR="+instancesDir, "KAFKA_HEAP_OPTS=-Xms128m -Xmx512m")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// TestKafkaInstancesSideBySide: two `.ci/kafka start` in a row both come
// up, each its own instance; a command that is not told which instance
// acts on none; stopping one leaves the other serving.
func TestKafkaInstancesSideBySide(t *testing.T) {
	t.Parallel()
	kafkatest.RealBrokers(t) // Java and Kafka's jars, as CI has them
	dir := t.TempDir()

	start := func() map[string]string {
		t.Helper()
		out, err := kafkaScript(t, dir, nil, "start")
		env := parseEnvLines(out)
		if name := env["KAFKA_INSTANCE"]; name != "" {
			t.Cleanup(func() {
				if out, err := kafkaScript(t, dir, []string{"KAFKA_INSTANCE=" + name}, "stop"); err != nil {
					t.Errorf(".ci/kafka stop of %s: %v\n%s", name, err, out)
				}
			})
		}
		require.NoError(t, err, ".ci/kafka start:\n%s", out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.True(t, strings.HasPrefix(lines[len(lines)-1], "KAFKA_BROKERS=127.0.0.1:"), "KAFKA_BROKERS comes last:\n%s", out)
		require.NotEmpty(t, env["KAFKA_INSTANCE"], "start names the instance it made:\n%s", out)
		return env
	}
	a := start()
	b := start()
	require.NotEqual(t, a["KAFKA_INSTANCE"], b["KAFKA_INSTANCE"])
	require.NotEqual(t, a["KAFKA_BROKERS"], b["KAFKA_BROKERS"])
	for _, k := range []map[string]string{a, b} {
		conn, err := net.DialTimeout("tcp", k["KAFKA_BROKERS"], 5*time.Second)
		require.NoError(t, err, "instance %s answers", k["KAFKA_INSTANCE"])
		require.NoError(t, conn.Close())
	}

	for _, cmd := range []string{"stop", "kill", "restart", "env", "logs"} {
		out, err := kafkaScript(t, dir, nil, cmd)
		require.Error(t, err, ".ci/kafka %s without an instance: %s", cmd, out)
		assert.Contains(t, out, "which instance?")
	}
	out, err := kafkaScript(t, dir, []string{"KAFKA_INSTANCE=" + b["KAFKA_INSTANCE"]}, "start")
	require.Error(t, err, "a second start of a running instance: %s", out)
	assert.Contains(t, out, "already running")
	out, err = kafkaScript(t, dir, nil, "list")
	require.NoError(t, err)
	assert.Contains(t, out, a["KAFKA_INSTANCE"])
	assert.Contains(t, out, b["KAFKA_INSTANCE"])

	out, err = kafkaScript(t, dir, []string{"KAFKA_INSTANCE=" + a["KAFKA_INSTANCE"]}, "stop")
	require.NoError(t, err, out)
	_, err = net.DialTimeout("tcp", a["KAFKA_BROKERS"], time.Second)
	require.Error(t, err, "the stopped instance's port is closed")
	assert.NoDirExists(t, filepath.Join(dir, a["KAFKA_INSTANCE"]))

	// The other one still serves: a record goes in and comes back.
	topic := kafkatest.CreateTopic(t, b["KAFKA_BROKERS"], 1)
	kafkatest.Produce(t, b["KAFKA_BROKERS"], topic, [][]byte{[]byte("k")}, [][]byte{[]byte("still here")})
	recs := kafkatest.ReadTopic(t, b["KAFKA_BROKERS"], topic, 1)
	assert.Equal(t, "still here", string(recs[0].Value))
	out, err = kafkaScript(t, dir, []string{"KAFKA_INSTANCE=" + b["KAFKA_INSTANCE"]}, "env")
	require.NoError(t, err, out)
	assert.Equal(t, b["KAFKA_BROKERS"], parseEnvLines(out)["KAFKA_BROKERS"])
}
