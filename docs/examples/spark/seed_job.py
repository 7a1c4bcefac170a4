"""The seed's PySpark job: the classic exercise's consumer, as it was.

It reads the topic with spark-sql-kafka, parses the JSON, explodes the
products, totals the value per product with
groupBy("produto").agg(sum(valor)) and prints the table to the console
(outputMode complete, default trigger), with Spark's default settings:
local[*], spark.sql.shuffle.partitions 200, money as a double, no
validation, no deduplication. consumer.py is the same job made correct.

    spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7 \
        seed_job.py --brokers localhost:9092 --topic vendas_ecommerce

What .ci/bench spark adds, none of it a Spark setting: --stop-after N
stops the query once its progress has counted N input rows (the default
trigger never ends by itself) and prints one line
    BENCH {"rows": ..., "batches": ..., "first_batch_start_ms": ...,
           "last_batch_end_ms": ..., "progress": [...]}
with the batches' start and end as epoch milliseconds (from the progress'
timestamp and durationMs.triggerExecution); --checkpoint puts the
checkpoint where the bench cleans up (without it Spark makes a temporary
one, as the seed did).
"""
import argparse
import datetime
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DoubleType, LongType, StringType,
                               StructField, StructType)

ITEM = StructType([
    StructField("nome", StringType()),
    StructField("quantidade", LongType()),
    StructField("preco_unitario", DoubleType()),
])
ORDER = StructType([
    StructField("id_ordem", StringType()),
    StructField("documento_cliente", StringType()),
    StructField("produtos", ArrayType(ITEM)),
    StructField("valor_total", DoubleType()),
    StructField("data_hora_venda", StringType()),
])


def epoch_ms(ts):
    # StreamingQueryProgress.timestamp: "2025-01-01T00:00:00.000Z" (UTC).
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default="localhost:9092")
    p.add_argument("--topic", default="vendas_ecommerce")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop once the query's progress counts this many input rows")
    args = p.parse_args()

    spark = SparkSession.builder.appName("vendas-seed").getOrCreate()

    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", args.brokers)
           .option("subscribe", args.topic)
           .option("startingOffsets", "earliest")
           .load())

    orders = (raw.select(F.from_json(F.col("value").cast("string"), ORDER).alias("o"))
              .select("o.*"))

    totals = (orders
              .select(F.explode("produtos").alias("p"))
              .select(F.col("p.nome").alias("produto"),
                      (F.col("p.quantidade") * F.col("p.preco_unitario")).alias("valor"))
              .groupBy("produto")
              .agg(F.sum("valor").alias("valor_total")))

    writer = totals.writeStream.outputMode("complete").format("console")
    if args.checkpoint:
        writer = writer.option("checkpointLocation", args.checkpoint)
    query = writer.start()

    if not args.stop_after:
        query.awaitTermination()
        return

    # The default trigger runs the next batch as soon as the previous one
    # ends; progress is reported after each batch.
    seen = {}
    while True:
        for prog in query.recentProgress:
            seen[prog["batchId"]] = prog
        rows = sum(p["numInputRows"] for p in seen.values())
        if rows >= args.stop_after:
            break
        if query.exception() is not None:
            raise RuntimeError(str(query.exception()))
        if not query.isActive:
            sys.exit("query ended after %d rows" % rows)
        time.sleep(0.05)
    query.stop()

    batches = [seen[b] for b in sorted(seen) if seen[b]["numInputRows"] > 0]
    first = batches[0]
    last = batches[-1]
    out = {
        "rows": rows,
        "batches": len(batches),
        "first_batch_start_ms": epoch_ms(first["timestamp"]),
        "last_batch_end_ms": epoch_ms(last["timestamp"])
        + last["durationMs"].get("triggerExecution", 0),
        "progress": [{"batchId": b["batchId"], "timestamp": b["timestamp"],
                      "numInputRows": b["numInputRows"],
                      "durationMs": b["durationMs"]} for b in batches],
    }
    print("BENCH " + json.dumps(out), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
