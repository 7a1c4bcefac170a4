"""Compares hourly windows of the orders topic three ways:

  independente  computed here from the topic itself (a `kcat -J` dump),
                checking each record against docs/CONTRACT.md section 5
  spark         the append output of janelas.py (<out>/janelas/*.json)
  nossas        the lines of consume-janelas.yaml with OUTPUT_FORMAT=json,
                per janela.inicio the line with the greatest revisao, then
                pedidos (section 10)

    kcat -b localhost:9092 -t vendas_ecommerce -C -e -J -q > topic.jsonl
    python3 compare_windows.py --topic topic.jsonl --spark janelas/janelas \
        --ours ours.jsonl [--markdown]

Only the standard library. Every record is counted as consume-janelas.yaml
counts it without WINDOW_DEDUPE: a `duplicado` copy counts, the ten rejected
fault classes do not. The `vendas_falha` header the producer puts on an
injected fault is not used to decide; it is tallied against the decision,
as a check of this script.

Exit status 0 when every window of `nossas` equals the independent sum.
"""
import argparse
import collections
import datetime as dt
import glob
import json
import os
import re
import sys
import unicodedata
from decimal import Decimal
from zoneinfo import ZoneInfo

SP = ZoneInfo("America/Sao_Paulo")
CPF = re.compile(r"^\d{3}\.\d{3}\.\d{3}-\d{2}$")
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
CENT = Decimal("0.01")


def cpf_ok(doc):
    if not isinstance(doc, str) or not CPF.match(doc):
        return False
    d = [int(c) for c in doc if c.isdigit()]
    for n in (9, 10):
        r = sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11
        if r % 10 != d[n]:
            return False
    return True


def money(v, top):
    return (isinstance(v, Decimal) and v > 0 and v <= top
            and v == v.quantize(CENT))


def name_ok(s):
    return (isinstance(s, str) and 1 <= len(s) <= 200 and not CONTROLS.search(s)
            and not any(0xD800 <= ord(c) <= 0xDFFF for c in s))


def order(payload):
    """The order's event time and total, or None when it is rejected."""
    try:
        o = json.loads(payload, parse_float=Decimal)
    except ValueError:
        return None
    if not isinstance(o, dict):
        return None
    ps = o.get("produtos")
    if not (name_ok(o.get("id_ordem")) and cpf_ok(o.get("documento_cliente"))
            and isinstance(ps, list) and 1 <= len(ps) <= 1000):
        return None
    soma = Decimal(0)
    for p in ps:
        q = p.get("quantidade") if isinstance(p, dict) else None
        if not (isinstance(p, dict) and name_ok(p.get("nome"))
                and type(q) is int and 1 <= q <= 1_000_000
                and money(p.get("preco_unitario"), Decimal(100_000_000))):
            return None
        soma += q * p["preco_unitario"]
    total = o.get("valor_total")
    if not money(total, Decimal(1_000_000_000)) or total != soma:
        return None
    try:
        local = dt.datetime.strptime(o.get("data_hora_venda", ""), "%d/%m/%Y %H:%M:%S")
    except (TypeError, ValueError):
        return None
    t = local.replace(tzinfo=SP)
    # A time the clocks skipped does not survive a round trip through UTC.
    if t.astimezone(dt.timezone.utc).astimezone(SP).replace(tzinfo=None) != local:
        return None
    return t, total


def hour(t):
    return t.replace(minute=0, second=0).isoformat()


def independent(path):
    win = collections.defaultdict(lambda: [0, Decimal(0)])
    classes = collections.Counter()  # (vendas_falha, counted?)
    records = 0
    # kcat writes a payload's bytes as they are: a record cut inside a UTF-8
    # sequence (nao_json) is kept as lone surrogates, which no order holds.
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            r = json.loads(line)
            records += 1
            h = r.get("headers") or []
            falha = dict(zip(h[::2], h[1::2])).get("vendas_falha", "-")
            got = order(r.get("payload") or "")
            classes[(falha, got is not None)] += 1
            if got:
                w = win[hour(got[0])]
                w[0] += 1
                w[1] += got[1]
    return win, classes, records


def spark(path):
    win = {}
    for fn in glob.glob(os.path.join(path, "*.json")):
        with open(fn, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line, parse_float=Decimal)
                if r["inicio"] in win:
                    sys.exit(f"{r['inicio']}: written twice by Spark")
                win[r["inicio"]] = [r["pedidos"], Decimal(r["valor_total"])]
    return win


def ours(path):
    win = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line, parse_float=Decimal)
            k = r["janela"]["inicio"]
            v = (r["revisao"], r["pedidos"], Decimal(r["valor_total"]), r["atrasados"])
            if k not in win or v[:2] > win[k][:2]:
                win[k] = v
    return win


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--topic", required=True, help="kcat -J dump of the topic")
    p.add_argument("--spark", required=True, help="janelas.py's <out>/janelas")
    p.add_argument("--ours", required=True, help="consume-janelas.yaml's JSON lines")
    p.add_argument("--markdown", action="store_true", help="the table in Markdown")
    a = p.parse_args()

    ind, classes, records = independent(a.topic)
    sp, us = spark(a.spark), ours(a.ours)

    print(f"records in the topic: {records}")
    print("vendas_falha header vs this script's decision (counted / rejected):")
    for falha in sorted({c for c, _ in classes}):
        print(f"  {falha:24} {classes[(falha, True)]:6} / {classes[(falha, False)]}")
    print(f"valid records counted: {sum(w[0] for w in ind.values())}, "
          f"R$ {sum(w[1] for w in ind.values())}")

    sep = " | " if a.markdown else "  "
    head = ["inicio", "indep. pedidos", "indep. valor", "spark pedidos", "spark valor",
            "nossas pedidos", "nossas valor", "revisao", "atrasados"]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(head))
    # Spark writes the windows in the order its watermark passes them: a
    # window before the last one written that it did not write is closed,
    # every one of its orders dropped.
    when = dt.datetime.fromisoformat
    last = max((when(k) for k in sp), default=None)
    dropped = dropped_value = spark_windows = spark_short = spark_missing = 0
    ours_equal = ours_windows = 0
    for k in sorted(ind, key=when):
        n, v = ind[k]
        s = sp.get(k)
        u = us.get(k)
        if s:
            spark_windows += 1
            if s[0] != n or s[1] != v:
                spark_short += 1
                dropped += n - s[0]
                dropped_value += v - s[1]
        elif last and when(k) < last:
            spark_missing += 1
            dropped += n
            dropped_value += v
        if u:
            ours_windows += 1
            ours_equal += (u[1], u[2]) == (n, v)
        row = [k, n, v,
               s[0] if s else "-", s[1] if s else "-",
               u[1] if u else "-", u[2] if u else "-",
               u[0] if u else "-", u[3] if u else "-"]
        line = sep.join(str(x) for x in row)
        print(f"| {line} |" if a.markdown else line)

    print(f"windows: independent {len(ind)}, written by Spark {spark_windows}, "
          f"emitted by ours {ours_windows}")
    print(f"Spark: {spark_short} of {spark_windows} windows written below the independent "
          f"sum, {spark_missing} closed windows never written; "
          f"{dropped} orders, R$ {dropped_value} dropped")
    print(f"ours: {ours_equal} of {ours_windows} windows equal to the independent sum "
          f"(latest revisao)")
    extra = sorted(set(sp) - set(ind)) + sorted(set(us) - set(ind))
    if extra:
        print(f"windows with no valid order in the topic: {extra}")
    sys.exit(0 if ours_equal == ours_windows and not extra else 1)


if __name__ == "__main__":
    main()
