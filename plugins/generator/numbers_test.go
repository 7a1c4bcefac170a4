package generator

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestLintTypesAndRanges: lint catches a number field holding text (as
// ${ORDERS_COUNT} gives when the variable is wrong) and values out of range,
// which it let through when the fields were typed int and float.
func TestLintTypesAndRanges(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"count from a wrong variable", `{count: abc}`, `count must be a whole number, 0 (no end) or more, got "abc" (is it set from ORDERS_COUNT?)`},
		{"rate in words", `{rate: fast}`, `rate must be a number, 0 (as fast as possible) or a positive number of orders per second, got "fast" (is it set from ORDERS_RATE?)`},
		{"fractional count", `{count: 1.5}`, `count must be a whole number`},
		{"negative count", `{count: -1}`, `count must be 0 (no end) or more, got -1`},
		{"zero price", `{catalog: [{nome: A, preco: 0}]}`, `preco must be greater than 0, got 0`},
		{"three decimals", `{catalog: [{nome: A, preco: 1.005}]}`, `preco 1.005 has more than two decimals`},
		{"price in words", `{catalog: [{nome: A, preco: dez}]}`, `preco must be a price in BRL such as 59.90, got dez`},
		{"seed in words", `{seed: abc}`, `seed must be an integer or empty (random), got "abc"`},
		{"batch size negative", `{batch_size: -5}`, `batch_size must be 0 (chosen from the rate) or more, got -5`},
		{"customers in words", `{customers: many}`, `customers must be a whole number, 0 or more, got "many"`},
		{"max quantity too large", `{max_quantity: 1000001}`, `max_quantity must be from 1 to 1000000`},
		{"decay above 1", `{basket_decay: 1.5}`, `basket_decay must be in (0, 1], got 1.5`},
		{"decay zero", `{quantity_decay: 0}`, `quantity_decay must be in (0, 1], got 0`},
		{"negative skew", `{popularity_skew: -1}`, `popularity_skew must be 0 or more`},
		{"clock speed", `{clock: {speed: 0}}`, `clock.speed must be greater than 0, got 0`},
		{"clock rate", `{clock: {nominal_rate: slow}}`, `clock.nominal_rate must be a number, greater than 0, got "slow"`},
		{"clock start", `{clock: {start: ontem}}`, `clock.start must be an RFC 3339 time`},
		{"progress", `{progress_interval: soon}`, `progress_interval must be a duration such as 5s`},
		{"both catalogs", `{catalog: [{nome: A, preco: 1}], catalog_file: x.yaml}`, "set catalog or catalog_file, not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := service.NewStreamBuilder().AddInputYAML("sales_orders: " + tc.yaml)
			require.Error(t, err, "lint must refuse %s", tc.yaml)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	valid := []string{
		`{count: 10, rate: 0, batch_size: 3, seed: "42"}`,
		`{count: "10", rate: "2.5"}`, // text holding a number, as --set gives
		`{seed: 42, customers: 0, max_quantity: 1000000, basket_decay: 1, popularity_skew: 0}`,
		`{clock: {mode: simulated, start: "2026-11-24T00:00:00-03:00", speed: 1440, nominal_rate: 50}, progress_interval: 5s}`,
		`{catalog: [{nome: A, preco: 59.9}, {nome: B, preco: "34.50"}, {nome: C, preco: 3}]}`,
	}
	for _, y := range valid {
		assert.NoError(t, service.NewStreamBuilder().AddInputYAML("sales_orders: "+y), y)
	}
}

// TestRuntimeErrorNamesTheVariable: Benthos replaces ${ORDERS_COUNT} before
// the input sees the config, so the input finds the variable by its value.
func TestRuntimeErrorNamesTheVariable(t *testing.T) {
	t.Setenv("ORDERS_COUNT", "abc")
	conf, err := Spec().ParseYAML(`count: abc`, nil)
	require.NoError(t, err)
	_, err = newInputFromConfig(conf, service.MockResources())
	require.Error(t, err)
	assert.Equal(t, `count must be a whole number, 0 (no end) or more, got "abc" (the value of ORDERS_COUNT in the environment)`, err.Error())

	conf, err = Spec().ParseYAML(`rate: "12"`, nil)
	require.NoError(t, err)
	in, err := newInputFromConfig(conf, service.MockResources())
	require.NoError(t, err, "text holding a number is a number")
	assert.InDelta(t, 12.0, in.pace.rate, 0)
}

// TestLintCommandOnProduceYAML runs `vendas-connect lint` on the shipped
// produce.yaml with wrong variables, as an operator would.
func TestLintCommandOnProduceYAML(t *testing.T) {
	bin := kafkatest.Binary(t)
	run := func(env ...string) (string, error) {
		cmd := exec.Command(bin, "lint", kafkatest.ConfigPath("produce.yaml"))
		cmd.Env = append(cleanEnv(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	require.NoError(t, err, "produce.yaml lints clean with the defaults: %s", out)

	out, err = run("ORDERS_COUNT=abc", "ORDERS_RATE=fast")
	require.Error(t, err, "lint must fail")
	assert.Contains(t, out, `count must be a whole number, 0 (no end) or more, got "abc" (is it set from ORDERS_COUNT?)`)
	assert.Contains(t, out, `rate must be a number`)
	assert.Contains(t, out, `got "fast" (is it set from ORDERS_RATE?)`)
}

// cleanEnv is the test's environment without the shipped configs' variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range kafkatest.ConfigEnvPrefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
