package docs

import (
	"bytes"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/vendas-connect/vendas-connect/plugins/generator"
)

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, service.GlobalEnvironment(), "sales_orders"))
	out := buf.String()
	assert.Contains(t, out, "<!-- input sales_orders -->")
	for _, field := range []string{"count", "rate", "seed", "batch_size", "catalog", "customers", "clock"} {
		assert.Contains(t, out, "### `"+field+"`", field)
	}
	assert.Contains(t, out, "Reproducible load", "examples are included")
	assert.ErrorContains(t, Write(&buf, service.GlobalEnvironment(), "no_such_thing"), `no component named "no_such_thing"`)
}
