package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInstanceZeroKeepsTheSeedsOrders pins the bytes a seed gives: the
// contract promises that the same seed gives the same orders, so instance 0
// (the default) and every new option left at its default must not change
// them. The first two digests were taken before instances, start_seq,
// expected results and faults existed; the faulted ones before event_time
// (disorder_max, late_min, late_max) existed, whose defaults must keep the
// event times fora_de_ordem and atrasado always had.
func TestInstanceZeroKeepsTheSeedsOrders(t *testing.T) {
	cases := []struct {
		name, yaml, digest string
		records            int
	}{
		{"defaults", `sales_orders: { count: 3000, rate: 0, seed: "42" }`, "2a3f112f971aac91c6880d6263cf810a07744796afcd770dbcdf432e049f6535", 3000},
		{"no customer pool", `sales_orders: { count: 3000, rate: 0, seed: "-7", customers: 0, max_items: 3 }`, "95aa1e90e5524c1272f1143cba54eb77921505baf654307271e68c3cc939b76b", 3000},
		{"late and out of order", `sales_orders: { count: 3000, rate: 0, seed: "42", faults: { fora_de_ordem: 0.3, atrasado: 0.3 } }`, "07b76246fdc94bfcf2986a43bb16bc053ce8082bf5031604ef47aba8d2061a69", 3000},
		{"every fault", `sales_orders: { count: 3000, rate: 0, seed: "8", fault_rate: 0.05 }`, "79b922560fa9c25fd0c6074982119280c049d514ea57e274e5873aba3c8d4e08", 3147},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := runInput(t, tc.yaml)
			require.Len(t, out, tc.records)
			h := sha256.New()
			for _, b := range out {
				h.Write(b)
				h.Write([]byte{'\n'})
			}
			assert.Equal(t, tc.digest, hex.EncodeToString(h.Sum(nil)))
		})
	}
}
