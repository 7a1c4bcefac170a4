package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelpSaysWhatThisBuildIs: --help names -c, what vendas-connect does and
// its two configs, and still lists Benthos' commands and ours.
func TestHelpSaysWhatThisBuildIs(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--help", "-h"} {
		t.Run(flag, func(t *testing.T) {
			stdout, stderr, err := runBinary(t, flag)
			require.NoError(t, err, stderr)
			for _, want := range []string{
				"vendas-connect - simulate an e-commerce sales stream on Kafka and total it per product",
				"vendas-connect -c CONFIG.yaml",
				"--config FILE, -c FILE",
				"custom build of the Benthos stream processor",
				"vendas-connect -c config/produce.yaml",
				"vendas-connect -c config/consume.yaml",
				"--version, -v",
			} {
				assert.Contains(t, stdout, want)
			}
			for _, command := range []string{"demo", "dev-broker", "docs", "lint", "list", "run", "streams", "blobl"} {
				assert.Regexp(t, `(?m)^   `+command+`\b`, stdout, "command %s is listed", command)
			}
			assert.NotContains(t, stdout, "mundane tasks", "Benthos' generic description is replaced")
		})
	}
}

// TestVersionHasNoEmptyLine: every line of --version has a value, Date a
// real time.
func TestVersionHasNoEmptyLine(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := runBinary(t, "--version")
	require.NoError(t, err, stderr)
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		require.True(t, ok, "line %q is not Key: value", line)
		require.NotEmpty(t, strings.TrimSpace(v), "line %q has no value", line)
		fields[k] = v
	}
	assert.NotEmpty(t, fields["Version"])
	_, err = time.Parse(time.RFC3339, fields["Date"])
	assert.NoError(t, err, "Date: %q", fields["Date"])
}
