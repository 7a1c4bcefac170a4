package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestMain removes the binary the tests built and stops the embedded broker.
func TestMain(m *testing.M) { kafkatest.Main(m) }

// TestStderrLogsCopiesEveryLine writes through the path the logger opens
// and checks that close returns only once every line is on stderr, a line
// longer than the copy's buffer included.
func TestStderrLogsCopiesEveryLine(t *testing.T) {
	var stderr bytes.Buffer
	l := newStderrLogs(&stderr)
	require.NotEmpty(t, l.path, "this OS has /proc/self/fd or /dev/fd")
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	require.NoError(t, err)
	var want strings.Builder
	for i, line := range []string{"level=info msg=one", strings.Repeat("x", 200_000), "level=warning msg=three"} {
		if i == 1 {
			line = "level=info msg=" + line
		}
		_, err := f.WriteString(line + "\n")
		require.NoError(t, err)
		want.WriteString(line + "\n")
	}
	l.close()
	assert.Equal(t, want.String(), stderr.String())
}

func TestStderrLogsOnlyWhenAPipelineRuns(t *testing.T) {
	l := newStderrLogs(&bytes.Buffer{})
	defer l.close()
	require.NotEmpty(t, l.path)
	data, err := l.schema().TemplateData("logger")
	require.NoError(t, err)
	assert.Contains(t, data.AdvancedConfigYAML, `path: ""`, "echo and create show Benthos' own default")
	l.run = true
	data, err = l.schema().TemplateData("logger")
	require.NoError(t, err)
	assert.Contains(t, data.AdvancedConfigYAML, "path: "+l.path)
}
