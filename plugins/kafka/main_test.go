package kafka

import (
	"testing"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

// TestMain removes the binary that process-level tests build and stops the
// shared embedded broker.
func TestMain(m *testing.M) { kafkatest.Main(m) }
