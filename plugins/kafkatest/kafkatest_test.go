package kafkatest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseKcat(t *testing.T) {
	out := []byte("0 5 3 4 abc{\"a\"\n2 7 -1 3 x\ny\n")
	recs, err := parseKcat(out)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, Record{Partition: 0, Offset: 5, Key: []byte("abc"), Value: []byte(`{"a"`)}, recs[0])
	assert.Equal(t, Record{Partition: 2, Offset: 7, Key: []byte{}, Value: []byte("x\ny")}, recs[1])
	_, err = parseKcat([]byte("0 5 3 40 abc{}\n"))
	assert.Error(t, err)
}

func TestSumOrders(t *testing.T) {
	s, err := SumOrders([][]byte{
		[]byte(`{"produtos":[{"nome":"A","quantidade":2,"preco_unitario":10.5},{"nome":"B","quantidade":1,"preco_unitario":0.05}],"valor_total":21.05}`),
		[]byte(`{"produtos":[{"nome":"A","quantidade":1,"preco_unitario":10.50}],"valor_total":10.5}`),
		[]byte(`{"produtos":[{"nome":"A","quantidade":1,"preco_unitario":10.50}],"valor_total":10.51}`),
		[]byte(`not json`),
		[]byte(`{"produtos":[{"nome":"A","quantidade":0,"preco_unitario":10.50}],"valor_total":0}`),
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.Orders)
	assert.Equal(t, int64(3), s.Rejected)
	assert.Equal(t, ProductSum{Units: 3, Orders: 2, Cents: 3150}, s.Products["A"])
	assert.Equal(t, ProductSum{Units: 1, Orders: 1, Cents: 5}, s.Products["B"])
}
