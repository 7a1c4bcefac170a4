package generator

import (
	"testing"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestMain removes the binary that process-level tests build.
func TestMain(m *testing.M) { kafkatest.Main(m) }
