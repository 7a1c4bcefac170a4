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
// them. The digests were taken before instances, start_seq, expected results
// and faults existed.
func TestInstanceZeroKeepsTheSeedsOrders(t *testing.T) {
	cases := []struct {
		name, yaml, digest string
	}{
		{"defaults", `sales_orders: { count: 3000, rate: 0, seed: "42" }`, "2a3f112f971aac91c6880d6263cf810a07744796afcd770dbcdf432e049f6535"},
		{"no customer pool", `sales_orders: { count: 3000, rate: 0, seed: "-7", customers: 0, max_items: 3 }`, "95aa1e90e5524c1272f1143cba54eb77921505baf654307271e68c3cc939b76b"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := runInput(t, tc.yaml)
			require.Len(t, out, 3000)
			h := sha256.New()
			for _, b := range out {
				h.Write(b)
				h.Write([]byte{'\n'})
			}
			assert.Equal(t, tc.digest, hex.EncodeToString(h.Sum(nil)))
		})
	}
}
