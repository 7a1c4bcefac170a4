package aggregate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

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
	if b.st != nil {
		close(b.stopCommit)
		<-b.commitDone
		_ = b.st.close()
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
		{"state without topics", `state_dir: /tmp/x`, `field topics: must list the Kafka topics`},
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
	assert.Nil(t, b.st)
}

func TestLintRules(t *testing.T) {
	cases := []struct {
		name, buffer, want string
	}{
		{"state_dir needs topics", `sales_aggregate: { state_dir: ./state }`, "field topics: must list the Kafka topics"},
		{"unknown mode", `sales_aggregate: { mode: append }`, "append"},
		{"valid", `sales_aggregate: { state_dir: ./state, topics: [ vendas_ecommerce ], mode: update }`, ""},
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
		{"invalid cpf", mk(`"529.982.247-26"`, okItems, okTotal, okDate), "documento_cliente: invalid CPF \"529.982.247-26\": check digits do not match"},
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
			for k, v := range map[string]string{"kafka_key": "chave-" + strconv.Itoa(i), "origem": "loja-1", MetaKafkaTopic: testTopic, MetaKafkaPartition: "3", MetaKafkaOffset: strconv.Itoa(10 + i)} {
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

func TestMetadataErrorsRefuseTheBatch(t *testing.T) {
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 1, UnitPrice: 1000})
	cases := []struct {
		name string
		msg  func() *service.Message
		want string
	}{
		{"offset not a number", func() *service.Message {
			m := kafkaMsg(valid, testTopic, 0, 1)
			m.MetaSetMut(MetaKafkaOffset, "abc")
			return m
		}, `metadata kafka_offset: "abc" is not an integer`},
		{"no partition", func() *service.Message {
			m := kafkaMsg(valid, testTopic, 0, 1)
			m.MetaDelete(MetaKafkaPartition)
			return m
		}, "kafka_partition is missing"},
		{"other topic", func() *service.Message { return kafkaMsg(valid, "outro", 0, 1) }, `topic "outro" is not in field topics`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestBuffer(t, "topics: [ "+testTopic+" ]\ninterval: 0s")
			ok := kafkaMsg(valid, testTopic, 0, 0)
			err := b.WriteBatch(context.Background(), service.MessageBatch{ok, c.msg()}, func(context.Context, error) error { return nil })
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Equal(t, int64(0), b.agg.Orders(), "a refused batch is counted not at all")
		})
	}
}

func TestKafkaFranzIntMetadata(t *testing.T) {
	b := newTestBuffer(t, `interval: 0s`)
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 1, UnitPrice: 1000})
	var batch service.MessageBatch
	for _, off := range []int{4, 4, 5} {
		m := service.NewMessage(valid)
		m.MetaSetMut(MetaKafkaTopic, testTopic)
		m.MetaSetMut(MetaKafkaPartition, 2)
		m.MetaSetMut(MetaKafkaOffset, off)
		batch = append(batch, m)
	}
	require.NoError(t, b.WriteBatch(context.Background(), batch, func(context.Context, error) error { return nil }))
	got := b.agg.Totals()
	assert.Equal(t, int64(2), got.Orders)
	assert.Equal(t, map[TopicPartition]int64{{testTopic, 2}: 5}, got.Offsets)
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

func TestStateRefusal(t *testing.T) {
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 1, UnitPrice: 1000})
	setup := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "state")
		b := newTestBuffer(t, durableYAML(dir)+"state_id: loja\n")
		acks := newAckRecorder()
		require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 0)}, acks.fn(nil)))
		acks.wait(t, 1)
		require.NoError(t, b.Close(context.Background()))
		return dir
	}
	open := func(yaml string) error {
		conf, err := aggregateSpec().ParseYAML(yaml, nil)
		require.NoError(t, err)
		b, err := newSalesAggregateFromConfig(conf, service.MockResources())
		if err == nil {
			_ = b.Close(context.Background())
		}
		return err
	}

	t.Run("same topics reopen", func(t *testing.T) {
		dir := setup(t)
		b := newTestBuffer(t, durableYAML(dir)+"state_id: loja\n")
		assert.Equal(t, int64(1), b.agg.Orders())
	})
	t.Run("other topic", func(t *testing.T) {
		dir := setup(t)
		err := open(fmt.Sprintf("state_dir: %q\ntopics: [ outro ]\nstate_id: loja\n", dir))
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
		assert.Contains(t, err.Error(), `was built from topics ["vendas_ecommerce"] but this config reads topics ["outro"]`)
	})
	t.Run("extra topic", func(t *testing.T) {
		dir := setup(t)
		err := open(fmt.Sprintf("state_dir: %q\ntopics: [ %s, outro ]\nstate_id: loja\n", dir, testTopic))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `this config reads topics ["outro","vendas_ecommerce"]`)
	})
	t.Run("other state_id", func(t *testing.T) {
		dir := setup(t)
		err := open(durableYAML(dir) + "state_id: teste\n")
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
		assert.Contains(t, err.Error(), `has state_id "loja" but this config has state_id "teste"`)
	})
	t.Run("other format version", func(t *testing.T) {
		dir := setup(t)
		db, err := bolt.Open(filepath.Join(dir, StateFileName), 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte("2")) }))
		require.NoError(t, db.Close())
		err = open(durableYAML(dir) + "state_id: loja\n")
		require.Error(t, err)
		assert.Contains(t, err.Error(), dir)
		assert.Contains(t, err.Error(), "has format version 2 but this build reads version 1")
	})
	t.Run("in use", func(t *testing.T) {
		dir := setup(t)
		newTestBuffer(t, durableYAML(dir)+"state_id: loja\n")
		err := open(durableYAML(dir) + "state_id: loja\n")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "in use by another process")
	})
}

func TestOutboxReplay(t *testing.T) {
	dir := t.TempDir()
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 1, UnitPrice: 1000})
	bad := kafkaMsg([]byte(`{"id_ordem":"ruim"}`), testTopic, 0, 1)
	bad.MetaSetMut("kafka_key", "ruim")

	// Run 1: the rejected record is emitted but the process dies before the
	// dead-letter output acknowledges it.
	b := newTestBuffer(t, durableYAML(dir))
	acks := newAckRecorder()
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 0), bad}, acks.fn(nil)))
	acks.wait(t, 1)
	batch, _ := readReady(t, b)
	require.Len(t, batch, 1)
	b.crashForTest()

	// Run 2: it is emitted again, the same bytes, metadata and reason.
	b = newTestBuffer(t, durableYAML(dir))
	batch, ack := readReady(t, b)
	require.Len(t, batch, 1)
	content, _ := batch[0].AsBytes()
	assert.Equal(t, `{"id_ordem":"ruim"}`, string(content))
	reason, _ := batch[0].MetaGet(MetaRejectedReason)
	assert.Equal(t, "documento_cliente: missing", reason)
	key, _ := batch[0].MetaGet("kafka_key")
	assert.Equal(t, "ruim", key)
	off, _ := batch[0].MetaGet(MetaKafkaOffset)
	assert.Equal(t, "1", off)
	// A failed delivery puts it back in line.
	require.NoError(t, ack(context.Background(), errors.New("dlq down")))
	batch, ack = readReady(t, b)
	require.Len(t, batch, 1)
	require.NoError(t, ack(context.Background(), nil))
	require.NoError(t, b.Close(context.Background()))

	// Run 3: delivered, so gone; redelivered input is skipped.
	b = newTestBuffer(t, durableYAML(dir))
	acks = newAckRecorder()
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 0), bad}, acks.fn(nil)))
	acks.wait(t, 1)
	b.EndOfInput()
	snaps, rejected := readAll(t, b)
	assert.Empty(t, rejected)
	require.Len(t, snaps, 1)
	assert.Equal(t, int64(1), snaps[0].Orders)
	assert.Equal(t, int64(1), snaps[0].Rejected)
	assert.Equal(t, map[string]map[string]int64{testTopic: {"0": 1}}, snaps[0].Offsets)
}

func TestCommitFailureNacks(t *testing.T) {
	b := newTestBuffer(t, durableYAML(t.TempDir()))
	valid := orderJSON("ok", order.Item{Name: "X", Quantity: 1, UnitPrice: 1000})
	acks := newAckRecorder()
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 0)}, acks.fn(nil)))
	acks.wait(t, 1)
	require.NoError(t, acks.errs[0])

	require.NoError(t, b.st.db.Close()) // the disk goes away
	require.NoError(t, b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 1)}, acks.fn(nil)))
	acks.wait(t, 2)
	require.Error(t, acks.errs[1], "a batch whose commit failed is nacked")
	err := b.WriteBatch(context.Background(), service.MessageBatch{kafkaMsg(valid, testTopic, 0, 1)}, acks.fn(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restart the stream")
}

// TestExactlyOnceAcrossCrashes is the property: random orders from a small
// catalog, some invalid, on a few partitions, written in random batches;
// the process "crashes" at random points (state reopened, nothing pending
// acknowledged) and the consumer restarts from at or before the first
// unacknowledged offset, as Kafka would. The final totals equal a naive sum
// in centavos, every record is counted once, every acknowledged record is
// durable and every rejected record reaches the output.
func TestExactlyOnceAcrossCrashes(t *testing.T) {
	var allDups int64
	defer func() { assert.Positive(t, allDups, "restarts must have redelivered records") }()
	for seed := range uint64(12) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0xfeed))
			catalog := smallCatalog(rng, 2+rng.IntN(8))
			partitions := 1 + rng.IntN(3)
			logs := make([][][]byte, partitions)
			want, wantRejected := newNaive(), int64(0)
			invalid := map[[2]int64]bool{}
			for p := range logs {
				for i := range 100 + rng.IntN(300) {
					if rng.IntN(12) == 0 {
						logs[p] = append(logs[p], []byte(`{"id_ordem":"ruim-`+strconv.Itoa(i)+`"}`))
						invalid[[2]int64{int64(p), int64(i)}] = true
						wantRejected++
						continue
					}
					o := randomOrder(rng, catalog, i)
					want.add(o)
					logs[p] = append(logs[p], o.AppendJSON(nil))
				}
			}
			yaml := durableYAML(t.TempDir()) + fmt.Sprintf("max_pending: %d\n", 1+rng.IntN(300))

			acked := make([][]bool, partitions) // durable per Kafka's view
			for p := range acked {
				acked[p] = make([]bool, len(logs[p]))
			}
			emitted := map[[2]int64]bool{}
			var dups int64
			collect := func(batch service.MessageBatch) {
				for _, m := range batch {
					p, _ := m.MetaGet(MetaKafkaPartition)
					o, _ := m.MetaGet(MetaKafkaOffset)
					pi, _ := strconv.ParseInt(p, 10, 64)
					oi, _ := strconv.ParseInt(o, 10, 64)
					emitted[[2]int64{pi, oi}] = true
				}
			}
			next := make([]int, partitions) // where the consumer (re)starts
			for run := 0; ; run++ {
				require.Less(t, run, 200)
				b := newTestBuffer(t, yaml)
				// Everything acknowledged before the crash is on disk.
				stored := b.agg.Totals().Offsets
				for p := range acked {
					for off, ok := range acked[p] {
						if ok {
							require.GreaterOrEqual(t, stored[TopicPartition{testTopic, int32(p)}], int64(off), "acked offset %d/%d not durable", p, off)
						}
					}
				}

				var wantDups int64 // records at or below the stored offset
				acks := newAckRecorder()
				var unacked []service.AckFunc // rejected records in flight
				pos := append([]int(nil), next...)
				writes := 0
				finish := run > 0 && rng.IntN(3) == 0
				for steps := 1 + rng.IntN(30); finish || steps > 0; steps-- {
					var open []int
					for p := range pos {
						if pos[p] < len(logs[p]) {
							open = append(open, p)
						}
					}
					if len(open) == 0 {
						break
					}
					p := open[rng.IntN(len(open))]
					n := min(1+rng.IntN(40), len(logs[p])-pos[p])
					batch := make(service.MessageBatch, n)
					for i := range batch {
						batch[i] = kafkaMsg(logs[p][pos[p]+i], testTopic, int32(p), int64(pos[p]+i))
					}
					from := pos[p]
					if last, ok := stored[TopicPartition{testTopic, int32(p)}]; ok {
						wantDups += max(0, min(int64(n), last-int64(from)+1))
					}
					require.NoError(t, b.WriteBatch(context.Background(), batch, acks.fn(func(err error) {
						if err == nil {
							for i := range n {
								acked[p][from+i] = true
							}
						}
					})))
					writes++
					pos[p] += n
					if rng.IntN(3) == 0 {
						if rb, ack := readReady(t, b); rb != nil {
							collect(rb)
							if rng.IntN(2) == 0 {
								require.NoError(t, ack(context.Background(), nil))
							} else {
								unacked = append(unacked, ack)
							}
						}
					}
				}
				done := true
				for p := range pos {
					done = done && pos[p] == len(logs[p])
				}
				if finish && done {
					acks.wait(t, writes)
					for _, ack := range unacked {
						require.NoError(t, ack(context.Background(), nil))
					}
					require.Equal(t, wantDups, b.agg.Totals().Duplicates)
					dups += wantDups
					b.EndOfInput()
					snaps, rejected := readAll(t, b)
					collect(rejected)
					final := snaps[len(snaps)-1]
					assert.Equal(t, want.orders, final.Orders)
					assert.Equal(t, want.value, final.Value)
					assert.Equal(t, wantRejected, final.Rejected)
					assert.Equal(t, want.products, productsMap(final.Products))
					for k := range invalid {
						assert.True(t, emitted[k], "rejected record %v never emitted", k)
					}
					t.Logf("%d crashes, %d duplicates skipped, %d rejected", run, dups, wantRejected)
					allDups += dups
					return
				}
				if rng.IntN(2) == 0 {
					acks.wait(t, writes) // sometimes crash with everything committed
				}
				b.crashForTest()
				require.Equal(t, wantDups, b.agg.Totals().Duplicates, "exactly the redelivered records are skipped")
				dups += wantDups
				acks.mu.Lock()
				for p := range next {
					first := 0
					for first < len(acked[p]) && acked[p][first] {
						first++
					}
					// Kafka restarts at its committed offset; it may be behind.
					next[p] = max(0, first-rng.IntN(20))
				}
				acks.mu.Unlock()
			}
		})
	}
}
