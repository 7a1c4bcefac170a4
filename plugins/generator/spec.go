package generator

import (
	"github.com/redpanda-data/benthos/v4/public/service"
)

// Field names of the sales_orders input.
const (
	fieldCount          = "count"
	fieldRate           = "rate"
	fieldSeed           = "seed"
	fieldBatchSize      = "batch_size"
	fieldCatalog        = "catalog"
	fieldCatalogFile    = "catalog_file"
	fieldCustomers      = "customers"
	fieldMaxItems       = "max_items"
	fieldMaxQuantity    = "max_quantity"
	fieldPopularitySkew = "popularity_skew"
	fieldBasketDecay    = "basket_decay"
	fieldQuantityDecay  = "quantity_decay"
	fieldClock          = "clock"
	fieldClockMode      = "mode"
	fieldClockStart     = "start"
	fieldClockSpeed     = "speed"
	fieldClockRate      = "nominal_rate"
	fieldProgress       = "progress_interval"
	fieldInstance       = "instance"
	fieldStartSeq       = "start_seq"
	fieldExpected       = "expected"
	fieldExpectedPath   = "path"
	fieldExpectedEvery  = "interval"
	fieldFaults         = "faults"
	fieldFaultRate      = "fault_rate"
	fieldEventTime      = "event_time"
	fieldDisorderMax    = "disorder_max"
	fieldLateMin        = "late_min"
	fieldLateMax        = "late_max"

	catName     = "nome"
	catCategory = "categoria"
	catPrice    = "preco"
)

// Clock modes.
const (
	clockAuto      = "auto"
	clockWall      = "wall"
	clockSimulated = "simulated"
)

// defaultSeededStart is where a seeded run's simulated clock starts when no
// start is given: a fixed instant, so the same seed gives the same bytes.
const defaultSeededStart = "2026-11-24T09:00:00-03:00"

// Spec is the config spec of the sales_orders input.
func Spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Utility").
		Summary("Generates realistic Brazilian e-commerce sales orders, one JSON order per message.").
		Description(`
Each message is one order in the vendas-connect format (CONTRACT.md): `+"`id_ordem`"+` (a UUID), `+"`documento_cliente`"+` (a CPF with valid check digits), `+"`produtos`"+` (name, quantity, unit price), `+"`valor_total`"+` (exactly the sum of the items, in centavos) and `+"`data_hora_venda`"+` (DD/MM/YYYY HH:MM:SS, São Paulo time).

Products come from a catalog (a built-in one of 64 Brazilian products, or your own) with skewed popularity: the first products of the catalog are the best sellers and the rest form a long tail (Zipf, `+"`popularity_skew`"+`). Basket sizes and quantities fall off geometrically. Customers come from a pool of recurring CPFs.

With a `+"`seed`"+` the stream is reproducible: the same seed and config give byte-identical orders whatever the `+"`batch_size`"+`. With a seed and no clock settings the event times come from a simulated clock starting at `+"`"+defaultSeededStart+"`"+`, since wall-clock times would differ between runs; set `+"`clock.mode: wall`"+` to stamp orders with the current time instead.

### Metadata

- `+"`id_ordem`"+`: the order id, to use as the Kafka key.
- `+"`seq`"+`: the order's sequence number, from 1.
- `+"`"+FaultHeader+"`"+`: on an injected record only, its fault class (see `+"`faults`"+`).

### Several producers, restarts and expected results

With one `+"`seed`"+`, producers with distinct `+"`instance`"+` numbers make disjoint streams (instance 0 makes the orders the seed always made; instance k > 0 makes its own, with ids that hold k, so no id is made twice). A producer restarted with the same seed and a `+"`start_seq`"+` makes the orders a run from 1 makes from that seq on.

With `+"`expected.path`"+` the input writes, every `+"`expected.interval`"+` and at the end, what a correct consumer must report for the orders the output acknowledged, seqs first to last: the snapshot of CONTRACT.md section 6 with each id_ordem counted once, the fault counts and the totals of the duplicate copies. It is computed by replaying the seed, never from what was sent, and written atomically (temporary file and rename). `+"`vendas-connect verify`"+` compares a consumer's output with it.

### Faults

`+"`faults`"+` (per class) and `+"`fault_rate`"+` (every class not listed) mix labelled faults into the stream, chosen per seq from the seed: records a consumer must reject (`+"`nao_json`, `campo_ausente`, `tipo_errado`, `quantidade_invalida`, `preco_invalido`, `total_errado`, `data_invalida`, `cpf_invalido`, `grande_demais`, `caracteres_de_controle`"+`) replace their order; `+"`duplicado`"+` sends the order again after itself; `+"`fora_de_ordem`"+` and `+"`atrasado`"+` move its event time back, by default 1 to 10 minutes or 1 to 24 hours (`+"`event_time`"+`). Each injected record has the metadata `+"`"+FaultHeader+"`"+` naming its class.

`+"`event_time`"+` sets how much: with a simulated clock at high speed a windowed consumer sees its windows close, and orders arrive out of order and late, within a minute. At `+"`rate: 100`"+` and `+"`clock.speed: 1440`"+` a simulated day takes a minute; `+"`fora_de_ordem`"+` orders arrive up to `+"`event_time.disorder_max`"+` behind the clock, and `+"`atrasado`"+` ones `+"`event_time.late_min`"+` to `+"`late_max`"+` behind it, beyond any watermark that trails the clock by less than `+"`late_min`"+`.

### Metrics

- `+"`sales_orders_generated`"+`: orders generated.
- `+"`sales_orders_value_cents`"+`: their total value in centavos.
- `+"`sales_orders_acked`"+`: orders acknowledged by the output.`).
		Fields(
			numField(fieldCount).
				Description("How many orders to generate, a whole number; the input ends once they are all acknowledged downstream. 0 means no end.").
				Default(0).Example(200000),
			numField(fieldRate).
				Description("Orders per second, a number. 0 means as fast as possible.").
				Default(10).Example(1000).Example(0),
			service.NewStringField(fieldSeed).
				Description("Seed of the random source, an integer. Empty means random, different on every run.").
				Default("").Example("42").
				LintRule(seedLint),
			numField(fieldBatchSize).
				Description("Orders per message batch, a whole number. Does not change the orders generated. 0 chooses it from the rate: 1000 as fast as possible (`rate: 0`), else a hundredth of the rate, between 1 and 1000, so that a paced stream goes out about a hundred times a second.").
				Default(0).Example(1000),
			service.NewObjectListField(fieldCatalog,
				service.NewStringField(catName).Description("Product name; identifies the product."),
				service.NewStringField(catCategory).Description("Category, for reference.").Default(""),
				service.NewAnyField(catPrice).Description("Unit price in BRL, at most two decimals.").LintRule(priceLint),
			).
				Description("Products to sell, best sellers first. Empty means the built-in catalog (or `catalog_file`).").
				Default([]any{}).
				Example([]any{
					map[string]any{"nome": "Camiseta Azul", "categoria": "Moda", "preco": 59.9},
					map[string]any{"nome": "Caneca Personalizada", "categoria": "Casa", "preco": 34.5},
				}),
			service.NewStringField(fieldCatalogFile).
				Description("A YAML or JSON file holding a list of `{nome, categoria, preco}` to use as the catalog. Cannot be combined with `catalog`.").
				Default("").Example("./catalog.yaml"),
			numField(fieldCustomers).
				Description("Size of the pool of recurring customers (CPFs repeat across orders), a whole number. 0 means a new customer for every order.").
				Default(5000).Example(100),
			numField(fieldMaxItems).
				Description("Most distinct products in one order, a whole number.").
				Default(5).Advanced(),
			numField(fieldMaxQuantity).
				Description("Most units of one product in one order, a whole number.").
				Default(5).Advanced(),
			numField(fieldPopularitySkew).
				Description("Zipf exponent of product popularity over catalog order. 0 makes every product equally likely; higher values concentrate sales on the first products.").
				Default(1.1).Advanced(),
			numField(fieldBasketDecay).
				Description("Probability ratio of an order with k+1 products to one with k, in (0, 1].").
				Default(0.45).Advanced(),
			numField(fieldQuantityDecay).
				Description("Probability ratio of q+1 units of a product to q units, in (0, 1].").
				Default(0.3).Advanced(),
			service.NewObjectField(fieldClock,
				service.NewStringEnumField(fieldClockMode, clockAuto, clockWall, clockSimulated).
					Description("`wall` stamps orders with the current time; `simulated` runs a clock from `start`, `speed` times faster than the order rate; `auto` is `simulated` when a seed is set and `wall` otherwise.").
					Default(clockAuto),
				service.NewStringField(fieldClockStart).
					Description("RFC 3339 start of the simulated clock. Empty means now, or "+defaultSeededStart+" when a seed is set.").
					Default("").Example("2026-11-24T00:00:00-03:00").
					LintRule(clockStartLint),
				numField(fieldClock+"."+fieldClockSpeed).
					Description("Simulated seconds per real second: at `rate: 100` and `speed: 1440`, a day of sales takes a minute.").
					Default(1).Example(1440),
				numField(fieldClock+"."+fieldClockRate).
					Description("Orders per real second the simulated timeline assumes when `rate` is 0.").
					Default(100).Advanced(),
			).Description("Where event times (`data_hora_venda`) come from."),
			numField(fieldInstance).
				Description("This producer's number among producers sharing a seed, from 0 to 65535. Each instance makes its own orders and ids; 0 makes the orders the seed always made.").
				Default(0).Example(1),
			numField(fieldStartSeq).
				Description("The seq of the first order to send, from 1: a producer restarted with the same seed and options sends, from there, the orders the first run would have. The orders before it are generated and dropped (about a million a second). `count` stays the seq of the last order.").
				Default(1).Example(250001),
			service.NewObjectField(fieldExpected,
				service.NewStringField(fieldExpectedPath).
					Description("File to write the expected results to (CONTRACT.md section 6, with the fields of the expected results). Empty writes none. Restarted with a `start_seq` after the file's primeiro_seq, the input continues the file's range when it was written for the same seed, instance and options, and refuses to start when it was not or when start_seq leaves a gap after its ultimo_seq.").
					Default("").Example("./esperado.json"),
				service.NewDurationField(fieldExpectedEvery).
					Description("How often the file is rewritten while the orders flow; it is always written at the end and at a stop.").
					Default("5s").Advanced(),
			).Description("Expected results of the orders the output acknowledged, for testing a consumer."),
			service.NewFloatMapField(fieldFaults).
				Description("Share of orders, from 0 to 1, that carry each fault class, by class name. The rates add up to at most 1.").
				Default(map[string]any{}).
				Example(map[string]any{"total_errado": 0.01, "duplicado": 0.02, "atrasado": 0.005}),
			numField(fieldFaultRate).
				Description("Share of orders, from 0 to 1, that carry each fault class not listed in `faults`: 0.01 puts 1% of the orders in each of the 13 classes.").
				Default(0).Example(0.01),
			service.NewObjectField(fieldEventTime,
				service.NewDurationField(fieldDisorderMax).
					Description("How far back `fora_de_ordem` moves an order's event time: by a whole number of seconds from min(1m, disorder_max/10) to just under disorder_max, chosen per seq from the seed. Whole seconds, at most 168h (7 days). The default keeps the 1 to 10 minutes `fora_de_ordem` always had.").
					Default("10m").Example("30m").
					LintRule(durationLint(fieldEventTime+"."+fieldDisorderMax, "ORDERS_DISORDER_MAX")),
				service.NewDurationField(fieldLateMin).
					Description("The least `atrasado` moves an order's event time back. Whole seconds, at most `late_max`.").
					Default("1h").Example("5m").
					LintRule(durationLint(fieldEventTime+"."+fieldLateMin, "ORDERS_LATE_MIN")),
				service.NewDurationField(fieldLateMax).
					Description("The bound of how far `atrasado` moves an order's event time back: by a whole number of seconds from `late_min` to just under late_max (exactly `late_min` when the two are equal), chosen per seq from the seed. Whole seconds, at most 168h (7 days).").
					Default("24h").Example("2h").
					LintRule(durationLint(fieldEventTime+"."+fieldLateMax, "ORDERS_LATE_MAX")),
			).Description("How far back the `fora_de_ordem` (disorder) and `atrasado` (lateness) faults move an order's event time (`data_hora_venda`) from its clock time. The defaults give the shifts these classes always had; other values change the event times of those orders only, and are part of the expected results' `gerador`."),
			service.NewDurationField(fieldProgress).
				Description("How often to log progress (orders acknowledged, orders/s). Empty turns it off.").
				Default("").Example("5s").
				LintRule(`root = if this.type() == "string" && this != "" && this.parse_duration().catch(null) == null { ["progress_interval must be a duration such as 5s or 1m, or empty, got %q".format(this)] }`),
		).
		// Rules over one field are the fields' own (numField): they also
		// see a value of the wrong type, which this one would not.
		LintRule(`root = match {
  this.catalog.or([]).length() > 0 && this.catalog_file.or("") != "" => ["set catalog or catalog_file, not both"],
}`).
		Example("Reproducible load", "200 000 orders as fast as possible, the same every run.", `
input:
  sales_orders:
    count: 200000
    rate: 0
    seed: "42"
    batch_size: 1000
`).
		Example("A day in a minute", "A simulated day of sales at 100 orders per second, with timestamps spread over the day.", `
input:
  sales_orders:
    rate: 100
    count: 6000
    clock:
      mode: simulated
      start: "2026-11-24T00:00:00-03:00"
      speed: 1440
`).
		Example("Your own catalog", "Sell two products at fixed prices to a few customers.", `
input:
  sales_orders:
    customers: 20
    catalog:
      - { nome: "Camiseta Azul", categoria: "Moda", preco: 59.90 }
      - { nome: "Caneca Personalizada", categoria: "Casa", preco: 34.50 }
`)
}
