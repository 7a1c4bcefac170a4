package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// logLine matches a line of Benthos' logfmt logger.
var logLine = regexp.MustCompile(`(^|\s)level=[a-z]+\s`)

// warnConfig logs a warning for each of n messages and writes them to
// output; no HTTP server, so tests run side by side.
func warnConfig(t *testing.T, output string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warn.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
http: { enabled: false }
input:
  generate: { count: 5, interval: "", mapping: 'root = "data " + count("warn").string()' }
pipeline:
  processors:
    - log: { level: WARN, message: "a warning about ${! content() }" }
output:
  `+output+`
logger: { level: INFO }
`), 0o644))
	return path
}

// runBinary runs vendas-connect to its end, within a minute.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// TestLogsGoToStderr: whatever the output, a pipeline's logs are on stderr
// and stdout holds only the data (Benthos' default logs to stdout unless
// the output is stdout).
func TestLogsGoToStderr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		output   string
		args     func(config string) []string
		wantData int
	}{
		{name: "-c, output drop", output: "drop: {}", args: func(c string) []string { return []string{"-c", c} }},
		{name: "run, output drop", output: "drop: {}", args: func(c string) []string { return []string{"run", c} }},
		{name: "-c, output stdout", output: "stdout: {}", args: func(c string) []string { return []string{"-c", c} }, wantData: 5},
		{name: "-c, output switch to stdout", output: `switch: { cases: [ { check: "false", output: { drop: {} } }, { output: { stdout: {} } } ] }`, args: func(c string) []string { return []string{"-c", c} }, wantData: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runBinary(t, tt.args(warnConfig(t, tt.output))...)
			require.NoError(t, err, "stderr:\n%s", stderr)
			var data []string
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				assert.False(t, logLine.MatchString(line), "a log line on stdout: %s", line)
				if line != "" {
					data = append(data, line)
				}
			}
			assert.Len(t, data, tt.wantData, "stdout: %q", stdout)
			assert.Equal(t, 5, strings.Count(stderr, `msg="a warning about data`), "the warnings are on stderr:\n%s", stderr)
			assert.Contains(t, stderr, `msg="Running main config from specified file"`)
		})
	}
}

// TestLogsAndDataShareAFile is `> file 2>&1`: logs written through a
// handle of their own would overwrite the data written through stdout's.
func TestLogsAndDataShareAFile(t *testing.T) {
	t.Parallel()
	config := warnConfig(t, "stdout: {}")
	f, err := os.Create(filepath.Join(t.TempDir(), "all.log"))
	require.NoError(t, err)
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kafkatest.Binary(t), "-c", config)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Run())
	all, err := os.ReadFile(f.Name())
	require.NoError(t, err)

	var data, warnings int
	for _, line := range strings.Split(strings.TrimSpace(string(all)), "\n") {
		switch {
		case strings.HasPrefix(line, "data "):
			data++
		case strings.HasPrefix(line, "time=") && logLine.MatchString(line):
			if strings.Contains(line, `msg="a warning about data`) {
				warnings++
			}
		default:
			t.Errorf("a line neither data nor a whole log line: %q", line)
		}
	}
	assert.Equal(t, 5, data, "%s", all)
	assert.Equal(t, 5, warnings, "%s", all)
}

// TestEchoKeepsBenthosLoggerDefault: only a running pipeline logs through
// the pipe to stderr; echo prints a config a user may keep, so it must not
// show the pipe's path.
func TestEchoKeepsBenthosLoggerDefault(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := runBinary(t, "echo", warnConfig(t, "drop: {}"))
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "file:\n    path: \"\"")
	assert.NotContains(t, stdout, "/fd/")
}

// TestDocsWritesOnlyTheReferenceToStdout: the reference is data; an error
// goes to stderr with a failing status.
func TestDocsWritesOnlyTheReferenceToStdout(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := runBinary(t, "docs", "sales_orders")
	require.NoError(t, err, stderr)
	assert.True(t, strings.HasPrefix(stdout, "<!-- input sales_orders -->\n"), "%.200s", stdout)
	assert.Empty(t, stderr)

	stdout, stderr, err = runBinary(t, "docs", "no_such_component")
	require.Error(t, err)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, `no component named "no_such_component"`)
}

// TestConsumeYAMLLogsToStderr runs the shipped consume.yaml at INFO: its
// stdout is JSON snapshots and nothing else.
func TestConsumeYAMLLogsToStderr(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.CreateTopic(t, brokers, 2)
	kafkatest.CreateNamedTopic(t, brokers, topic+"_dlq", 1)
	// One bad record: a warning-worthy rejection and a snapshot to print.
	kafkatest.Produce(t, brokers, topic, [][]byte{[]byte("bad")}, [][]byte{[]byte(`{"id_ordem":`)})

	p := kafkatest.StartProcess(t, "consume", map[string]string{
		"KAFKA_BROKERS": brokers, "KAFKA_TOPIC": topic, "OUTPUT_FORMAT": "json",
		"AGGREGATE_INTERVAL": "50ms", "CONSUME_HTTP_ADDRESS": "127.0.0.1:0", "LOG_LEVEL": "INFO",
	}, kafkatest.Binary(t), "-c", kafkatest.ConfigPath("consume.yaml"))
	_, _, err := p.WaitSnapshot(time.Minute, 0, func(s kafkatest.Snapshot) bool { return s.Rejected == 1 })
	require.NoError(t, err)
	_, err = p.WaitOutput(time.Minute, "Running main config from specified file")
	require.NoError(t, err)
	require.NoError(t, p.Stop(30*time.Second))

	assert.Contains(t, p.Stderr(), `msg="Running main config from specified file"`)
	for _, line := range p.Stdout() {
		assert.True(t, kafkatest.IsSnapshotLine(line), "stdout holds a line that is not a snapshot: %s", line)
	}
}
