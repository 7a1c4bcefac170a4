package aggregate

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vendas-connect/vendas-connect/plugins/kafka"
	"github.com/vendas-connect/vendas-connect/plugins/order"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// crashForTest stops the buffer the way a killed process would: nothing
// pending is committed or acknowledged.
func (b *salesAggregate) crashForTest() {
	b.mu.Lock()
	b.crash, b.closed = true, true
	b.mu.Unlock()
	b.stopTicker()
	if b.stateTopic != "" {
		close(b.stopCommit)
		<-b.commitDone
		<-b.clReady
		if b.cl != nil {
			b.cl.close()
		}
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"bad mode", `mode: append`, `field mode: "append" is not one of complete, update`},
		{"negative interval", `interval: -1s`, `field interval: -1s is negative`},
		{"not a duration", `interval: often`, `often`},
		{"max_pending zero", `max_pending: 0`, `field max_pending: 0 is below 1`},
		{"max_rejected_held zero", `max_rejected_held: 0`, `field max_rejected_held: 0 is below 1`},
		{"max_rejected_held_bytes not a size", `max_rejected_held_bytes: lots`, `field max_rejected_held_bytes: "lots" is not a size such as 32MiB`},
		{"max_rejected_held_bytes zero", `max_rejected_held_bytes: 0B`, `field max_rejected_held_bytes: "0B" is not from 1B to 1TiB`},
		{"state_dir is gone", `state_dir: /tmp/x`, `field state_dir (STATE_DIR in consume.yaml) is set to "/tmp/x", but the state now lives on Kafka`},
		{"state topic without kafka_franz", `state_topic: vendas_totais`, `field state_topic: the state is kept per Kafka partition, so the input must be kafka_franz`},
		{"empty topic", `topics: [ "" ]`, `field topics: empty topic name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf, err := aggregateSpec().ParseYAML(c.yaml, nil)
			require.NoError(t, err)
			_, err = newSalesAggregateFromConfig(conf, service.MockResources())
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	conf, err := aggregateSpec().ParseYAML(`{}`, nil)
	require.NoError(t, err)
	b, err := newSalesAggregateFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	defer b.Close(context.Background())
	assert.Equal(t, ModeComplete, b.mode)
	assert.Equal(t, 2*time.Second, b.interval)
	assert.Equal(t, 100_000, b.maxHeld)
	assert.Equal(t, 32<<20, b.maxHeldBytes)
	assert.Nil(t, b.cl)

	conf, err = aggregateSpec().ParseYAML("max_rejected_held: 10\nmax_rejected_held_bytes: 1KiB", nil)
	require.NoError(t, err)
	b2, err := newSalesAggregateFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	defer b2.Close(context.Background())
	assert.Equal(t, 10, b2.maxHeld)
	assert.Equal(t, 1024, b2.maxHeldBytes)
}

func TestLintRules(t *testing.T) {
	cases := []struct {
		name, buffer, want string
	}{
		{"unknown mode", `sales_aggregate: { mode: append }`, "append"},
		{"valid", `sales_aggregate: { topics: [ vendas_ecommerce ], mode: update }`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := service.NewStreamBuilder().SetYAML("input:\n  generate: { mapping: 'root = {}', count: 1 }\nbuffer:\n  " + c.buffer + "\noutput:\n  drop: {}\n")
			if c.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestRejectedRecords: every class of bad input is refused with a reason
// naming the field, emitted with its original bytes and metadata, counted
// in rejeitados and never in the totals.
func TestRejectedRecords(t *testing.T) {
	mk := func(cpf, prods, total, date string) string {
		return `{"id_ordem":"x","documento_cliente":` + cpf + `,"produtos":` + prods + `,"valor_total":` + total + `,"data_hora_venda":` + date + `}`
	}
	okCPF, okItems, okTotal, okDate := `"529.982.247-25"`, `[{"nome":"X","quantidade":2,"preco_unitario":10.00}]`, `20.00`, `"01/01/2026 10:00:00"`
	cases := []struct {
		name, in, want string
	}{
		{"not json", `hello`, "invalid JSON at byte 0"},
		{"empty", ``, "empty record"},
		{"truncated", mk(okCPF, okItems, okTotal, okDate)[:50], "invalid JSON"},
		{"missing field", `{"id_ordem":"x","documento_cliente":"529.982.247-25","valor_total":20,"data_hora_venda":"01/01/2026 10:00:00"}`, "produtos: missing"},
		{"mistyped quantity", mk(okCPF, `[{"nome":"X","quantidade":"2","preco_unitario":10}]`, okTotal, okDate), "produtos[0].quantidade: expected a number, got a string"},
		{"fractional quantity", mk(okCPF, `[{"nome":"X","quantidade":1.5,"preco_unitario":10}]`, `15.00`, okDate), "produtos[0].quantidade: expected an integer"},
		{"quantity zero", mk(okCPF, `[{"nome":"X","quantidade":0,"preco_unitario":10}]`, `0.01`, okDate), "produtos[0].quantidade: must be an integer from 1 to 1000000, got 0"},
		{"quantity negative", mk(okCPF, `[{"nome":"X","quantidade":1,"preco_unitario":10},{"nome":"Y","quantidade":-1,"preco_unitario":10}]`, `0.01`, okDate), "produtos[1].quantidade: must be an integer from 1"},
		{"price zero", mk(okCPF, `[{"nome":"X","quantidade":1,"preco_unitario":0}]`, `0.01`, okDate), "produtos[0].preco_unitario: must be greater than 0"},
		{"price negative", mk(okCPF, `[{"nome":"X","quantidade":1,"preco_unitario":-5.00}]`, `0.01`, okDate), "produtos[0].preco_unitario: must be greater than 0"},
		{"price three decimals", mk(okCPF, `[{"nome":"X","quantidade":1,"preco_unitario":1.005}]`, `1.00`, okDate), "produtos[0].preco_unitario: 1.005: more than two decimals"},
		{"total mismatch", mk(okCPF, okItems, `20.01`, okDate), "valor_total: is 20.01 but the products sum to 20.00"},
		{"bad date", mk(okCPF, okItems, okTotal, `"31/02/2026 10:00:00"`), "data_hora_venda: \"31/02/2026 10:00:00\": no such date or time"},
		{"date format", mk(okCPF, okItems, okTotal, `"2026-01-01T10:00:00Z"`), "data_hora_venda: "},
		{"invalid cpf", mk(`"529.982.247-26"`, okItems, okTotal, okDate), "documento_cliente: invalid CPF \"***.982.247-**\": check digits do not match"},
	}
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 2, UnitPrice: 1000})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestBuffer(t, `interval: 0s`)
			bad := kafkaMsg([]byte(c.in), testTopic, 3, int64(10+i))
			bad.MetaSetMut("kafka_key", "chave-"+strconv.Itoa(i))
			bad.MetaSetMut("origem", "loja-1")
			acks := newAckRecorder()
			require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(valid), bad}, acks.fn(nil)))
			acks.wait(t, 1)
			b.EndOfInput()

			snaps, rejected := readAll(t, b)
			require.Len(t, rejected, 1)
			got := rejected[0]
			content, err := got.AsBytes()
			require.NoError(t, err)
			assert.Equal(t, c.in, string(content))
			reason, _ := got.MetaGet(MetaRejectedReason)
			assert.Contains(t, reason, c.want)
			for k, v := range map[string]string{"kafka_key": "chave-" + strconv.Itoa(i), "origem": "loja-1", kafka.MetaTopic: testTopic, kafka.MetaPartition: "3", kafka.MetaOffset: strconv.Itoa(10 + i)} {
				gotV, _ := got.MetaGet(k)
				assert.Equal(t, v, gotV, k)
			}
			_, isSnap := got.MetaGet(MetaSnapshot)
			assert.False(t, isSnap)

			require.Len(t, snaps, 1)
			assert.Equal(t, int64(1), snaps[0].Orders)
			assert.Equal(t, int64(1), snaps[0].Rejected)
			assert.Equal(t, order.Cents(2000), snaps[0].Value)
			assert.Equal(t, []ProductTotals{{Name: "X", Units: 2, Orders: 1, Value: 2000}}, snaps[0].Products)
		})
	}
}

func TestRejectedReasonIsTheDecodeError(t *testing.T) {
	a := NewAggregator()
	_, err := a.Apply(&Record{Data: []byte(`{"id_ordem":7}`)})
	var de *order.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "id_ordem", de.Field)
}

func TestIntervalSnapshots(t *testing.T) {
	for _, mode := range []Mode{ModeComplete, ModeUpdate} {
		t.Run(mode.String(), func(t *testing.T) {
			b := newTestBuffer(t, "interval: 10ms\nmode: "+mode.String())
			write := func(items ...order.Item) {
				require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(orderJSON("o", items...))}, func(context.Context, error) error { return nil }))
			}
			read := func(timeout time.Duration) (*Snapshot, error) {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				batch, ack, err := b.ReadBatch(ctx)
				if err != nil {
					return nil, err
				}
				require.Len(t, batch, 1)
				v, _ := batch[0].MetaGet(MetaSnapshot)
				require.Equal(t, "true", v)
				data, _ := batch[0].AsBytes()
				require.NoError(t, ack(ctx, nil))
				return ParseSnapshot(data)
			}

			write(order.Item{Name: "A", Quantity: 1, UnitPrice: 100}, order.Item{Name: "B", Quantity: 1, UnitPrice: 200})
			s, err := read(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, mode, s.Mode)
			assert.Equal(t, int64(1), s.Sequence)
			assert.Len(t, s.Products, 2)

			// Nothing changed: no snapshot however many ticks pass.
			_, err = read(100 * time.Millisecond)
			require.ErrorIs(t, err, context.DeadlineExceeded)

			write(order.Item{Name: "B", Quantity: 2, UnitPrice: 200})
			s, err = read(5 * time.Second)
			require.NoError(t, err)
			assert.Equal(t, int64(2), s.Orders)
			assert.Equal(t, order.Cents(700), s.Value)
			if mode == ModeUpdate {
				assert.Equal(t, []ProductTotals{{Name: "B", Units: 3, Orders: 2, Value: 600}}, s.Products)
			} else {
				assert.Equal(t, []ProductTotals{{Name: "B", Units: 3, Orders: 2, Value: 600}, {Name: "A", Units: 1, Orders: 1, Value: 100}}, s.Products)
			}

			// The end of the input always gives a complete snapshot.
			b.EndOfInput()
			snaps, _ := readAll(t, b)
			require.Len(t, snaps, 1)
			assert.Equal(t, ModeComplete, snaps[0].Mode)
			assert.Len(t, snaps[0].Products, 2)
		})
	}
}

func TestFinalSnapshotRedeliveredOnNack(t *testing.T) {
	b := newTestBuffer(t, `interval: 0s`)
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{service.NewMessage(orderJSON("o", order.Item{Name: "A", Quantity: 1, UnitPrice: 100}))}, func(context.Context, error) error { return nil }))
	b.EndOfInput()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batch, ack, err := b.ReadBatch(ctx)
	require.NoError(t, err)
	require.Len(t, batch, 1)
	require.NoError(t, ack(ctx, errors.New("stdout is gone")))
	snaps, _ := readAll(t, b)
	require.Len(t, snaps, 1)
	assert.Equal(t, int64(1), snaps[0].Orders)
}
