package aggregate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/order"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// pipelineOrders are the records a generate input cycles through: valid
// orders and one invalid record.
func pipelineOrders(t *testing.T) (records []string, valid []*order.Order) {
	rng := rand.New(rand.NewPCG(7, 7))
	catalog := realisticCatalog()
	for i := range 6 {
		o := randomOrder(rng, catalog, i)
		valid = append(valid, o)
		records = append(records, string(o.AppendJSON(nil)))
	}
	records = append(records, `{"id_ordem":"sem-produtos","documento_cliente":"529.982.247-25","produtos":[],"valor_total":0,"data_hora_venda":"24/11/2026 18:03:59"}`)
	for _, r := range records {
		require.NotContains(t, r, `"""`)
	}
	return records, valid
}

type captured struct {
	mu   sync.Mutex
	msgs []*service.Message
}

func (c *captured) add(_ context.Context, m *service.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m.Copy())
	c.mu.Unlock()
	return nil
}

// runPipeline runs generate → sales_aggregate → sales_report → consumer
// until the input ends.
func runPipeline(t *testing.T, count int, records []string, buffer, format string) []*service.Message {
	t.Helper()
	var lits []string
	for _, r := range records {
		lits = append(lits, `"""`+r+`"""`)
	}
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
generate:
  count: %d
  interval: ""
  batch_size: 64
  mapping: |
    let i = counter() - 1
    meta kafka_topic = "%s"
    meta kafka_partition = ($i %% 2).string()
    meta kafka_offset = ($i / 2).floor().string()
    root = [ %s ].index($i %% %d)
`, count, testTopic, strings.Join(lits, ", "), len(records))))
	require.NoError(t, sb.SetBufferYAML("sales_aggregate:\n"+buffer))
	require.NoError(t, sb.AddProcessorYAML("sales_report:\n  format: "+format))
	sb.SetThreads(1)
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	var out captured
	require.NoError(t, sb.AddConsumerFunc(out.add))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
	return out.msgs
}

// TestPipelineExactTotals runs records whose metadata claims Kafka positions
// (kafka_topic, kafka_partition, kafka_offset, as record headers would):
// positions come only from the kafka_franz input, so metadata never makes a
// record a "duplicate", and a second run counts everything again.
func TestPipelineExactTotals(t *testing.T) {
	const count = 7000
	records, valid := pipelineOrders(t)
	want := newNaive()
	for i := range count {
		if k := i % len(records); k < len(valid) {
			want.add(valid[k])
		}
	}
	wantRejected := count / len(records)

	buffer := "  interval: 0s"
	check := func(msgs []*service.Message, rejectedWanted int) {
		require.NotEmpty(t, msgs)
		last := msgs[len(msgs)-1]
		v, _ := last.MetaGet(MetaSnapshot)
		require.Equal(t, "true", v, "the last message is the final snapshot")
		data, err := last.AsBytes()
		require.NoError(t, err)
		assert.NotContains(t, string(data), "\n", "json format: one line per snapshot")
		s, err := ParseSnapshot(data)
		require.NoError(t, err)
		assert.Equal(t, want.orders, s.Orders)
		assert.Equal(t, want.value, s.Value)
		assert.Equal(t, int64(wantRejected), s.Rejected)
		assert.Equal(t, want.products, productsMap(s.Products))
		assert.Empty(t, s.Offsets, "no position came from Kafka")
		rejected := 0
		for _, m := range msgs {
			if r, ok := m.MetaGet(MetaRejectedReason); ok {
				rejected++
				assert.Equal(t, "produtos: empty, an order has at least one product", r)
			}
		}
		assert.Equal(t, rejectedWanted, rejected)
	}

	check(runPipeline(t, count, records, buffer, formatJSON), wantRejected)
	check(runPipeline(t, count, records, buffer, formatJSON), wantRejected)
}

func TestPipelineInMemoryTable(t *testing.T) {
	records, valid := pipelineOrders(t)
	msgs := runPipeline(t, len(records), records, "  interval: 0s", formatTable)
	require.Len(t, msgs, 2)
	reason, _ := msgs[0].MetaGet(MetaRejectedReason)
	assert.Contains(t, reason, "produtos: empty")
	table, err := msgs[1].AsBytes()
	require.NoError(t, err)
	want := newNaive()
	for _, o := range valid {
		want.add(o)
	}
	assert.Contains(t, string(table), "pedidos 6 · rejeitados 1 · snapshot 1\n")
	assert.Contains(t, string(table), "\nTOTAL ")
	assert.Contains(t, string(table), want.value.BRL()+"  100,00%  +"+want.value.BRL())
	for name := range want.products {
		assert.Contains(t, string(table), "\n"+name+" ")
	}
}
