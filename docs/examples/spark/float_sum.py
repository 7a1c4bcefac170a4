#!/usr/bin/env python3
"""A consumer that gets money wrong on purpose: it reads orders (one JSON
order per line on stdin), sums valor per product as float, the way a
DataFrame with DoubleType does, and writes the totals as CSV on stdout.

    vendas-connect -c orders-to-stdout.yaml | python3 float_sum.py > float.csv
    vendas-connect verify --expected esperado.json --actual float.csv

Used by the README to show what `verify` reports for such a consumer."""
import csv
import json
import sys

units, value = {}, {}
for line in sys.stdin:
    try:
        order = json.loads(line)  # JSON numbers become Python floats (float64)
        items = order["produtos"]
    except (ValueError, KeyError, TypeError):
        continue
    for item in items:
        name = item["nome"]
        units[name] = units.get(name, 0) + item["quantidade"]
        value[name] = value.get(name, 0.0) + item["quantidade"] * item["preco_unitario"]

out = csv.writer(sys.stdout)
out.writerow(["produto", "quantidade", "valor_total"])
for name in sorted(value):
    out.writerow([name, units[name], repr(value[name])])
