"""The PySpark Structured Streaming consumer of the original exercise,
adapted to the vendas-connect contract (docs/CONTRACT.md section 5): it reads
the orders from Kafka, explodes the products and totals units, orders and
value per product, with money as DecimalType(18,2), never as a double.

    spark-submit --packages org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.1 \
        consumer.py --brokers localhost:9092 --topic vendas_ecommerce --out totals

Every trigger rewrites <out>/ with one CSV (produto, quantidade, pedidos,
valor_total) that `vendas-connect verify --actual <out>/part-*.csv` reads.

What it does not do, and verify shows: it checks the arithmetic rules of the
contract (quantity >= 1, price > 0, total = sum of the items, a date in the
right form) but not the CPF check digits, control characters or the 1000
products limit; records with those faults are counted as orders here.
"""
import argparse

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DecimalType, LongType, StringType,
                               StructField, StructType)

MONEY = DecimalType(18, 2)  # exact: Spark reads the JSON number as a BigDecimal

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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--brokers", default="localhost:9092")
    p.add_argument("--topic", default="vendas_ecommerce")
    p.add_argument("--out", default="totals")
    p.add_argument("--checkpoint", default="checkpoint")
    args = p.parse_args()

    spark = SparkSession.builder.appName("vendas-totais").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "America/Sao_Paulo")

    raw = (spark.readStream.format("kafka")
           .option("kafka.bootstrap.servers", args.brokers)
           .option("subscribe", args.topic)
           .option("startingOffsets", "earliest")
           .load())

    orders = (raw.select(F.from_json(F.col("value").cast("string"), ORDER,
                                     {"mode": "PERMISSIVE"}).alias("o"))
              .select("o.*"))

    items_total = F.aggregate(
        "produtos", F.lit(0).cast(MONEY),
        lambda acc, it: (acc + it["quantidade"] * it["preco_unitario"]).cast(MONEY))
    valid = (orders
             .where(F.col("id_ordem").isNotNull()
                    & F.col("documento_cliente").isNotNull()
                    & (F.size("produtos") > 0)
                    & F.col("valor_total").isNotNull()
                    & F.to_timestamp("data_hora_venda", "dd/MM/yyyy HH:mm:ss").isNotNull())
             .where(F.forall("produtos", lambda it: it["nome"].isNotNull()
                             & (it["quantidade"] >= 1)
                             & (it["preco_unitario"] > 0)))
             .where(items_total == F.col("valor_total"))
             # The same order sent again (a producer retry, a restart) counts
             # once. Without a watermark Spark keeps every id: fine for a
             # test run, not for a stream that never ends.
             .dropDuplicates(["id_ordem"]))

    per_product = (valid
                   .select("id_ordem", F.explode("produtos").alias("p"))
                   .groupBy(F.col("p.nome").alias("produto"))
                   .agg(F.sum("p.quantidade").alias("quantidade"),
                        # Streaming has no distinct count; an order lists a
                        # product once (sales_orders never repeats one).
                        F.count(F.lit(1)).alias("pedidos"),
                        F.sum(F.col("p.quantidade") * F.col("p.preco_unitario"))
                        .cast(MONEY).alias("valor_total")))

    def write_csv(batch, _epoch):
        (batch.coalesce(1).orderBy(F.desc("valor_total"), "produto")
         .write.mode("overwrite").option("header", True).csv(args.out))

    (per_product.writeStream.outputMode("complete")
     .option("checkpointLocation", args.checkpoint)
     .foreachBatch(write_csv)
     .start()
     .awaitTermination())


if __name__ == "__main__":
    main()
