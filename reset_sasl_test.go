package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestResetStateWithSASL: reset-state reaches real Kafka's SCRAM listener
// with the configs' SASL variables; without them it fails and says SASL may
// be missing. Needs KAFKA_SCRAM_BROKERS (as .ci/kafka provides).
func TestResetStateWithSASL(t *testing.T) {
	scram := os.Getenv("KAFKA_SCRAM_BROKERS")
	if scram == "" {
		if os.Getenv(kafkatest.RequireEnv) != "" {
			t.Fatal("KAFKA_SCRAM_BROKERS is not set")
		}
		t.Skip("KAFKA_SCRAM_BROKERS is not set: no SCRAM listener to test against")
	}
	brokers := kafkatest.Brokers(t)
	state := kafkatest.CreateTopic(t, brokers, 1) + "_totais"
	kafkatest.CreateNamedTopic(t, brokers, state, 1)

	run := func(env ...string) (string, error) {
		cmd := exec.Command(kafkatest.Binary(t), "reset-state", "--brokers", scram, "--state-topic", state)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("KAFKA_SASL_MECHANISM=", "KAFKA_SASL_USERNAME=", "KAFKA_SASL_PASSWORD=")
	require.Error(t, err, out)
	assert.Contains(t, out, "SASL", "the error says SASL may be missing")

	out, err = run("KAFKA_SASL_MECHANISM="+os.Getenv("KAFKA_SCRAM_MECHANISM"),
		"KAFKA_SASL_USERNAME="+os.Getenv("KAFKA_SCRAM_USER"), "KAFKA_SASL_PASSWORD="+os.Getenv("KAFKA_SCRAM_PASSWORD"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "deleted state topic "+state)
	assert.False(t, strings.Contains(out, os.Getenv("KAFKA_SCRAM_PASSWORD")), "the password is not printed")
}
