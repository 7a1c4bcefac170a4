"""Hourly windows of data_hora_venda with PySpark Structured Streaming and a
watermark: what consume-janelas.yaml computes (docs/CONTRACT.md section 10),
the way Spark does it, to show which late orders Spark drops where
consume-janelas.yaml amends a window (revisao 2, 3, ...).

    spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7 \
        janelas.py --brokers localhost:9092 --topic vendas_ecommerce --out janelas

Two queries read the topic, each with .withWatermark("ts", "10 minutes")
(the allowed_lateness of consume-janelas.yaml) and output mode append, so a
window is written once, when the watermark passed its end:

  <out>/janelas/   one JSON line per hour: inicio, fim, pedidos, valor_total
  <out>/produtos/  one JSON line per hour and product: inicio, fim, produto,
                   quantidade, pedidos, valor_total

`inicio` and `fim` are written as consume-janelas.yaml writes them
(2026-11-24T10:00:00-03:00), so compare_windows.py can join the two.

Spark's watermark is the greatest event time of the whole query (every
partition) seen up to the previous trigger, less 10 minutes. A row whose
event time is below it is dropped: with append, a window is written once,
so an order that arrives after its window was written is never counted
anywhere. That is the difference this example shows.

Money is DecimalType(18,2) (Spark reads the JSON number as a BigDecimal);
the event time is data_hora_venda read in America/Sao_Paulo. Hour windows
of Spark are aligned to the epoch, which, São Paulo being a whole number of
hours from UTC, are its clock's hours too.

Validity: as consume-janelas.yaml, the records a correct consumer rejects
(the ten rejected fault classes of section 9) are left out: JSON that does
not parse into the schema, a missing field, a wrong type, quantity or price
out of range, a total that is not the items' sum, a date that does not
exist, a CPF whose check digits are wrong, more than 1000 products, control
characters in a name. As consume-janelas.yaml without WINDOW_DEDUPE, a
`duplicado` copy is counted (no dropDuplicates).
"""
import argparse
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DecimalType, LongType, StringType,
                               StructField, StructType)

MONEY = DecimalType(18, 2)  # exact: Spark reads the JSON number as a BigDecimal
TOTAL = DecimalType(20, 2)  # a window's sum

ITEM = StructType([
    StructField("nome", StringType()),
    StructField("quantidade", LongType()),
    StructField("preco_unitario", MONEY),
])
ORDER = StructType([
    StructField("id_ordem", StringType()),
    StructField("documento_cliente", StringType()),
    StructField("produtos", ArrayType(ITEM)),
    StructField("valor_total", MONEY),
    StructField("data_hora_venda", StringType()),
])

# C0, DEL and C1 controls, the bidirectional controls and line separators
# (docs/CONTRACT.md section 5).
CONTROLS = "[\\x{0}-\\x{1F}\\x{7F}-\\x{9F}\\x{200E}\\x{200F}\\x{202A}-\\x{202E}\\x{2066}-\\x{2069}\\x{2028}\\x{2029}]"
ISO = "yyyy-MM-dd'T'HH:mm:ssXXX"


def cpf_ok(doc):
    """The two check digits of a CPF formatted 000.000.000-00."""
    digits = F.regexp_replace(doc, "[.-]", "")
    d = [F.substring(digits, i + 1, 1).cast("int") for i in range(11)]

    def check(n):  # digit n (9 or 10) from the n digits before it
        s = sum((d[i] * (n + 1 - i) for i in range(n)), F.lit(0))
        r = (s * 10) % 11
        return F.when(r == 10, 0).otherwise(r)

    return (doc.rlike("^[0-9]{3}\\.[0-9]{3}\\.[0-9]{3}-[0-9]{2}$")
            & (check(9) == d[9]) & (check(10) == d[10]))


def valid_orders(orders):
    items_total = F.aggregate(
        "produtos", F.lit(0).cast(MONEY),
        lambda acc, it: (acc + it["quantidade"] * it["preco_unitario"]).cast(MONEY))
    return (orders
            .where(F.col("id_ordem").isNotNull()
                   & F.col("documento_cliente").isNotNull()
                   & F.col("produtos").isNotNull()
                   & F.col("valor_total").isNotNull()
                   & F.col("ts").isNotNull())
            .where((F.size("produtos") >= 1) & (F.size("produtos") <= 1000))
            .where(F.forall("produtos", lambda it: it["nome"].isNotNull()
                            & (F.length(it["nome"]) >= 1)
                            & (F.length(it["nome"]) <= 200)
                            & ~it["nome"].rlike(CONTROLS)
                            & (it["quantidade"] >= 1)
                            & (it["quantidade"] <= 1000000)
                            & (it["preco_unitario"] > 0)
                            & (it["preco_unitario"] <= 100000000)))
            .where(~F.col("id_ordem").rlike(CONTROLS))
            .where(cpf_ok(F.col("documento_cliente")))
            .where((F.col("valor_total") == items_total)
                   & (F.col("valor_total") <= 1000000000)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default="localhost:9092")
    p.add_argument("--topic", default="vendas_ecommerce")
    p.add_argument("--out", default="janelas")
    p.add_argument("--checkpoint", default="checkpoint-janelas")
    p.add_argument("--starting-offsets", default="earliest",
                   help="earliest, latest or Spark's JSON of offsets")
    p.add_argument("--trigger", default="2 seconds",
                   help="processingTime of each trigger")
    p.add_argument("--watermark", default="10 minutes",
                   help="allowed lateness (consume-janelas.yaml: WINDOW_LATENESS=10m)")
    p.add_argument("--window", default="1 hour")
    args = p.parse_args()

    spark = SparkSession.builder.appName("vendas-janelas").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "America/Sao_Paulo")
    # A date that does not exist (31/02) is null, not an exception that
    # stops the query (Spark 3's default policy raises on it).
    spark.conf.set("spark.sql.legacy.timeParserPolicy", "CORRECTED")
    spark.conf.set("spark.sql.shuffle.partitions", "4")

    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", args.brokers)
           .option("subscribe", args.topic)
           .option("startingOffsets", args.starting_offsets)
           .load())

    orders = (raw.select(F.from_json(F.col("value").cast("string"), ORDER,
                                     {"mode": "PERMISSIVE"}).alias("o"))
              .select("o.*")
              # Read in the session time zone, America/Sao_Paulo.
              .withColumn("ts", F.to_timestamp("data_hora_venda",
                                               "dd/MM/yyyy HH:mm:ss")))
    valid = valid_orders(orders).withWatermark("ts", args.watermark)

    def bounds(df):
        return (df.withColumn("inicio", F.date_format("window.start", ISO))
                  .withColumn("fim", F.date_format("window.end", ISO))
                  .drop("window"))

    per_window = bounds(
        valid.groupBy(F.window("ts", args.window))
        .agg(F.count(F.lit(1)).alias("pedidos"),
             F.sum("valor_total").cast(TOTAL).alias("valor_total")))

    per_product = bounds(
        valid.select("ts", F.explode("produtos").alias("p"))
        .groupBy(F.window("ts", args.window), F.col("p.nome").alias("produto"))
        .agg(F.sum("p.quantidade").alias("quantidade"),
             # An order lists a product once (sales_orders never repeats one).
             F.count(F.lit(1)).alias("pedidos"),
             F.sum(F.col("p.quantidade") * F.col("p.preco_unitario"))
             .cast(TOTAL).alias("valor_total")))

    queries = []
    for name, df in (("janelas", per_window), ("produtos", per_product)):
        queries.append(df.writeStream.outputMode("append")
                       .format("json")
                       .option("path", f"{args.out}/{name}")
                       .option("checkpointLocation", f"{args.checkpoint}/{name}")
                       .trigger(processingTime=args.trigger)
                       .queryName(name)
                       .start())

    # One line per trigger of the window query on stdout: the watermark it
    # used and Spark's own count of rows it dropped as late. That count is
    # taken after the partial aggregation (rows per window and task), so it
    # is not a number of orders: compare_windows.py counts those.
    seen = -1
    try:
        while any(q.isActive for q in queries):
            for prog in queries[0].recentProgress:
                if prog["batchId"] <= seen:
                    continue
                seen = prog["batchId"]
                ops = prog.get("stateOperators") or [{}]
                print(json.dumps({
                    "batch": prog["batchId"],
                    "linhas": prog["numInputRows"],
                    "watermark": prog.get("eventTime", {}).get("watermark"),
                    "descartadas_por_watermark": ops[0].get("numRowsDroppedByWatermark"),
                    "janelas_em_estado": ops[0].get("numRowsTotal"),
                }), flush=True)
            time.sleep(1)
        for q in queries:
            if q.exception():
                print(q.exception(), file=sys.stderr)
                sys.exit(1)
    except KeyboardInterrupt:
        for q in queries:
            q.stop()


if __name__ == "__main__":
    main()
