package aggregate

import (
	"github.com/redpanda-data/benthos/v4/public/service"
)

// Field names of sales_aggregate.
const (
	fieldMode         = "mode"
	fieldInterval     = "interval"
	fieldStateTopic   = "state_topic"
	fieldStateDir     = "state_dir"
	fieldTopics       = "topics"
	fieldMaxPending   = "max_pending"
	fieldCommitPeriod = "commit_period"
	fieldMaxProd      = "max_products"
	fieldWindow       = "window"
	fieldSlide        = "slide"
	fieldLateness     = "allowed_lateness"
	fieldIdle         = "idle_timeout"
	fieldRetention    = "retention"
	fieldDedupe       = "dedupe"
	fieldMaxFuture    = "max_future"
	fieldMaxSlots     = "max_window_products"
	fieldMaxHeld      = "max_rejected_held"
	fieldMaxHeldB     = "max_rejected_held_bytes"
)

// Metadata keys set on the messages sales_aggregate emits.
const (
	// MetaSnapshot is "true" on snapshot messages.
	MetaSnapshot = "sales_snapshot"
	// MetaRejectedReason is on rejected records: why the record is not a
	// valid order, naming the field (produtos[1].quantidade: ...).
	MetaRejectedReason = "sales_rejected_reason"
)

func aggregateSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Windowing").
		Summary("Totals sales orders per product (units, orders, value in centavos) and emits snapshots of the totals; with a state topic, exactly once across crashes and rebalances, over any number of consumers.").
		Description(`
Each message must be an order as fixed by docs/CONTRACT.md. It is decoded strictly; a valid order adds to the totals of every product it contains: `+"`quantidade`"+` (units), `+"`pedidos`"+` (orders containing the product) and `+"`valor_total`"+` (exact, in centavos). Memory grows with the number of products and partitions, not of orders.

== Why a buffer

A processor only runs when a message arrives and must answer for that message: it cannot emit on a timer, cannot emit when the input ends, and cannot keep a message's acknowledgement until the totals it changed are durable. A buffer sits between the input and the pipeline and can do all three, so the aggregation is a buffer. The pipeline and the outputs then see only what this buffer emits: snapshots and rejected records.

== State per partition, kept on Kafka

Totals are kept per Kafka topic-partition, from the positions the `+"`kafka_franz`"+` input reports in each message's context (never from metadata, which record headers can set). With `+"`state_topic`"+`, the state of each partition (its topic ID, the next offset to count, the lowest offset whose rejected record may still be on its way to the output, the per-product totals and the counts) is written to that compacted topic, one record per partition, the way Kafka Streams keeps its state stores; the topic is created when missing (`+"`cleanup.policy=compact`"+`). Input messages are acknowledged only once the state that counts them is on the broker.

The input must be a `+"`kafka_franz`"+` with a `+"`consumer_group`"+`: when the group assigns a partition, this buffer restores the partition's state from the state topic and the input reads on from there (the group's committed offsets are only for lag tools). A partition with no state is read from its beginning. Since a partition's state is a function of its records up to the stored offset alone, any state written by any member, even one that lost the partition without noticing (frozen past the session timeout), is a correct state: the totals can never count a record twice or skip one, and no local disk is needed, so a consumer can run on any machine.

Every member reads the whole state topic, so each snapshot holds the totals over all partitions of the topic: its own partitions live, the others as their owners last wrote them. N members print the same complete totals once the stream is quiet. Each snapshot lists, per partition, the next offset it covers and the member that owns it.

The state records the topic's ID: a topic deleted and created again under the same name is detected when its partitions are assigned (or when a fetch shows the new ID) and the process stops with a message naming the topic and both IDs; `+"`vendas-connect reset-state`"+` deletes the state topic to start the totals afresh. A stored offset the partition no longer has (truncated, or records deleted by retention before they were counted) stops the process the same way.

Without `+"`state_topic`"+` the totals live in memory: with a `+"`kafka_franz`"+` input every assigned partition is read from its beginning (the group's offsets are ignored), so a member's totals are exact for the partitions it owns; with any other input messages are counted in arrival order.

== Snapshots

A snapshot is one message of JSON, with metadata `+"`"+MetaSnapshot+`: true`+"`"+`:

`+"```json"+`
{"pedidos":3,"rejeitados":1,"valor_total":7499.80,"produtos":[{"produto":"Notebook","quantidade":2,"pedidos":2,"valor_total":6999.80},{"produto":"Mouse","quantidade":5,"pedidos":1,"valor_total":500.00}],"modo":"complete","offsets":{"vendas_ecommerce":{"0":3}},"particoes":[{"topico":"vendas_ecommerce","particao":0,"proximo_offset":4,"dono":"host-a/4242"}],"emitido_em":"2026-11-24T18:04:01-03:00","sequencia":7}
`+"```"+`

Money always has two decimals and is never rounded through a float. In `+"`complete`"+` mode every product is listed, by value descending then by name; in `+"`update`"+` mode only the products changed since the previous snapshot (counts, the grand total and the partitions are always complete). `+"`offsets`"+` holds, per topic and partition, the last offset in the totals; `+"`particoes`"+` the next offset to count and the owner.

A snapshot is emitted every `+"`interval`"+` if anything changed since the previous one (a quiet stream prints nothing), and once more when the input ends: that last one is always `+"`complete`"+` and covers every order read.

== Rejected records

A record that is not a valid order (not JSON, a field missing or of the wrong type, `+"`quantidade`"+` below 1, `+"`preco_unitario`"+` not above 0, `+"`valor_total`"+` not the sum of the products, a bad date, an invalid CPF, a product name too long or with control characters) never touches the totals. It is counted in `+"`rejeitados`"+` and emitted as its own message: the original bytes, the original metadata, plus `+"`"+MetaRejectedReason+"`"+` naming the field and the problem. Route it with a `+"`switch`"+` output (see the examples). A rejected record that is not acknowledged downstream is emitted again after a back-off (1s doubling to 1m). With `+"`state_topic`"+` a rejected record reaches the output at least once across crashes: the stored state keeps the lowest offset whose rejected record is not yet delivered, and a new owner reads again from there, counting nothing twice.

== Windows

With `+"`window`"+`, the totals are also kept per window of event time: `+"`data_hora_venda`"+` in America/Sao_Paulo, windows aligned to the São Paulo clock (a day window is a São Paulo day: 23 or 25 hours when the clocks changed). Each partition has a watermark, its greatest event time counted less `+"`allowed_lateness`"+`; the stream's is the smallest over the partitions with orders that are not idle (no greater event time for `+"`idle_timeout`"+`), the greatest when all are idle, and it never goes back. When it passes a window's end the window is emitted as final (`+"`revisao: 1`"+`, metadata `+"`"+MetaWindow+`: final`+"`"+`); an order that arrives afterwards for that window amends it: the window is emitted again with the corrected totals, `+"`revisao`"+` one higher and `+"`atrasados`"+` counting the late orders (metadata `+"`"+MetaWindow+`: revisao`+"`"+`). Nothing is dropped and nothing is counted in another window than its own. A window is kept `+"`retention`"+` after it closed, then evicted; an order whose windows were all evicted is a rejected record with the reason. Window messages go out at each `+"`interval`"+` tick, with the snapshot. When a finite input ends (a file), every window still open is emitted as final; when a `+"`kafka_franz`"+` input stops (Ctrl-C, a restart), open windows stay open, for the next run or owner to close when the watermark passes them.

With `+"`state_topic`"+`, a partition's windows, its greatest event time and what was emitted are in its state record, so they survive a crash and move with the partition like the totals; a state counted with other windows is refused at start. Window lines are written at least once: after a crash a window may be emitted again with the same revision. The line format is in docs/CONTRACT.md, section 10.

== Metrics

`+"`sales_orders_applied`, `sales_records_rejected`, `sales_duplicates_skipped`, `sales_stale_skipped`, `sales_snapshots_emitted`"+` (counters), `+"`sales_products`"+` (the products the last snapshot's totals hold, over every partition), `+"`sales_partitions_owned`"+` (gauges) and, with `+"`state_topic`"+`, `+"`sales_commit_latency_ns`"+` (timer).
`).
		Fields(
			service.NewStringEnumField(fieldMode, modeComplete, modeUpdate).
				Description("Which products a periodic snapshot lists: `complete` every product, `update` only those changed since the previous snapshot. The snapshot at the end of the input is always complete.").
				Default(modeComplete).
				Example(modeUpdate),
			service.NewDurationField(fieldInterval).
				Description("How often a snapshot is emitted, when something changed since the previous one. `0s` emits only when the input ends.").
				Default("2s").
				Example("500ms").Example("0s"),
			service.NewStringField(fieldStateTopic).
				Description("The compacted Kafka topic that holds the state of every partition, on the cluster of the `kafka_franz` input (which must have a `consumer_group`). Created when missing. Empty keeps the totals in memory only.").
				Default("").
				Example("vendas_ecommerce_totais"),
			service.NewStringField(fieldStateDir).
				Description("Removed: the state now lives on Kafka (`state_topic`). A non-empty value is refused at start, so that a configuration written for the local state is not run without it unnoticed.").
				Default("").
				Advanced(),
			service.NewStringListField(fieldTopics).
				Description("The Kafka topics the totals are built from. A partition of another topic assigned to this member stops the process. Empty accepts the topics of the input.").
				Default([]any{}).
				Example([]string{"vendas_ecommerce"}),
			service.NewIntField(fieldMaxProd).
				Description("The most distinct products per partition. An order that would add more is rejected (to the DLQ, with a reason), so that no stream of made-up names can grow the state without end: a partition's state is one Kafka record, and with product names of at most 200 characters 10000 products stay under the state topic's 16 MiB records.").
				Default(10000).
				Example(1000).
				Advanced(),
			service.NewStringField(fieldWindow).
				Description("Totals per event-time window as well: the size of each window, by `data_hora_venda` in America/Sao_Paulo, aligned to the São Paulo clock (a size dividing one hour, or whole hours dividing a day: `1h` windows start at each local hour, `24h` at local midnight, so a day window lasts 23 or 25 hours on the days clocks changed). Empty: no windows. See Windows.").
				Default("").
				Example("1h").Example("15m").Example("24h"),
			service.NewStringField(fieldSlide).
				Description("How far apart windows start, for hopping windows: it must divide `window`. Empty: `window` (tumbling windows, each order in one).").
				Default("").
				Example("15m").Advanced(),
			service.NewStringField(fieldLateness).
				Description("How far behind a partition's latest event time its watermark stays: a window is final once every partition's watermark passed its end. Larger waits longer for out-of-order orders before a window is final, and makes fewer amendments.").
				Default("10m").
				Example("1m").Example("1h"),
			service.NewStringField(fieldIdle).
				Description("A partition whose latest event time did not grow for this long (processing time) no longer holds the watermark back, as Flink's idleness. `0s`: partitions never count as idle.").
				Default("1m").
				Example("10s"),
			service.NewStringField(fieldRetention).
				Description("How long after it is final a window is kept, taking in late orders as amendments; after that it is evicted, and an order whose windows were all evicted goes to the rejected records with a reason. Accepts days (`7d`).").
				Default("7d").
				Example("2d").Example("12h"),
			service.NewStringField(fieldMaxFuture).
				Description("With `window`, an order whose event time is further than this ahead of this consumer's clock is rejected with a reason: counted, one order stamped years ahead would move the watermark there, close every window and make every order after it too old. Raise it (or `0s`: no limit) when a simulated clock runs ahead of the real one.").
				Default("24h").
				Example("1h").Example("0s").Advanced(),
			service.NewIntField(fieldMaxSlots).
				Description("With `window`, the most product rows over the windows a partition keeps (each window holds a row per product up to the highest one it sold, and counts 3 rows for itself). An order that would add more is rejected with a reason, so that no stream of made-up names and dates can grow memory and the state record past the state topic's 16 MiB records. 1h windows kept 7 days over a catalog of 500 products take about 100 000. At most 150 000.").
				Default(150000).
				Example(100000).Advanced(),
			service.NewBoolField(fieldDedupe).
				Description("Count an `id_ordem` once: an order whose id was counted already in its partition, within the watermark's horizon, is left out of the totals and the windows and counted in `duplicados` (as Spark's dropDuplicatesWithinWatermark). An id is remembered until the watermark passes the later of its event time and its partition's watermark when it came, plus `allowed_lateness`; a copy that comes later is counted. Copies must land in one partition: key the records by `id_ordem`, as produce.yaml does. Needs `window` (its watermark bounds what is remembered). With `state_topic` exactly once across crashes: a restore reads the partition again from the oldest id still remembered.").
				Default(false).
				Example(true),
			service.NewIntField(fieldMaxPending).
				Description("With `state_topic`, the most records counted but not yet on the broker; the input waits while this many are pending. Higher absorbs a slower broker, lower bounds what is read again after a crash.").
				Default(65536).
				Example(4096).
				Advanced(),
			service.NewDurationField(fieldCommitPeriod).
				Description("With `state_topic`, the least time between the starts of two writes of the state. Writes are group commits, one at a time: what is counted while one is in progress goes in the next, which starts once the write before it has ended and this much time has passed since that one started. It starts without waiting for this once half of `"+fieldMaxPending+"` records, or half of the input's `checkpoint_limit` when that is lower, wait for it, or the input waits for room under `"+fieldMaxPending+"`; when a partition is revoked or its state must be written again over another member's; and when the input ends or the buffer closes. Each write costs the broker CPU, so when it shares the machine's cores with the consumer, fewer, larger writes count faster; acknowledgements wait up to this much longer. `0s` writes again as soon as a write ends.").
				Default("25ms").
				Example("0s").
				Example("100ms").
				Advanced(),
			service.NewIntField(fieldMaxHeld).
				Description("How many rejected records may be held in memory for the output that takes them (the DLQ) while it does not: from this many on, counting waits until some are delivered, as it waits for the state topic, rather than memory growing or a rejected record being dropped. Counted with those emitted and not yet acknowledged, and checked before each batch the input hands over, so the records of that batch may pass it.").
				Default(maxHeldRejected).
				Example(10000).
				Advanced(),
			service.NewStringField(fieldMaxHeldB).
				Description("How many bytes of rejected records (their content, reason and metadata) may be held for the DLQ, as `"+fieldMaxHeld+"`: whichever is reached first makes counting wait.").
				Default("32MiB").
				Example("8MiB").
				Advanced(),
		).
		Example("Totals from Kafka to stdout, rejected records to a dead-letter topic",
			"Counts every order exactly once across crashes and rebalances with any number of members, prints a table every two seconds and sends invalid records to `vendas_ecommerce_dlq` with the reason as a header.",
			`
input:
  kafka_franz:
    seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
    topics: [ "${KAFKA_TOPIC:vendas_ecommerce}" ]
    consumer_group: vendas-totais
    checkpoint_limit: 16384 # messages wait for the state write before their ack
    batching:
      count: 1024
      period: 50ms

buffer:
  sales_aggregate:
    interval: 2s
    state_topic: "${KAFKA_TOPIC:vendas_ecommerce}_totais"

pipeline:
  threads: 1
  processors:
    - sales_report:
        format: "${OUTPUT_FORMAT:table}"

output:
  switch:
    cases:
      - check: '@`+MetaRejectedReason+` != null'
        output:
          kafka_franz:
            seed_brokers: [ "${KAFKA_BROKERS:localhost:9092}" ]
            topic: "${KAFKA_TOPIC:vendas_ecommerce}_dlq"
            metadata:
              include_patterns: [ "`+MetaRejectedReason+`" ]
      - output:
          stdout: {}
`).
		Example("Totals of a file, in memory",
			"Reads orders one per line and prints the final totals as JSON when the file ends.",
			`
input:
  file:
    paths: [ ./orders.jsonl ]
    scanner:
      lines: {}

buffer:
  sales_aggregate:
    interval: 0s

output:
  stdout: {}
`)
}
