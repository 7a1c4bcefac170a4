package demo_test

import (
	"testing"

	"github.com/vendas-connect/vendas-connect/plugins/kafkatest"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }
