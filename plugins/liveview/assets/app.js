// The live dashboard: reads the dashboard's view of each snapshot from
// totais/painel/stream (Server-Sent Events) and redraws. Every value from the
// stream reaches the page through textContent, never as markup: product
// names come from Kafka records.
"use strict";

(function () {
  const JANELA_S = 300; // the orders/s line: last 5 minutes

  const $ = (id) => document.getElementById(id);

  // "1441958.80" -> "R$ 1.441.958,80", from the exact decimal text.
  function reais(s) {
    const neg = s.startsWith("-");
    const [inteiro, frac = ""] = (neg ? s.slice(1) : s).split(".");
    return (neg ? "-" : "") + "R$ " + milhares(inteiro) + "," + (frac + "00").slice(0, 2);
  }
  function milhares(digitos) {
    return String(digitos).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }
  function inteiro(n) {
    return milhares(Math.round(n));
  }
  function hora(iso) {
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleTimeString("pt-BR", { hour12: false });
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function cell(tr, text, cls) {
    tr.appendChild(el("td", cls, text));
  }

  // --- orders per second, from successive views -------------------------
  const xs = [], ys = [];
  let prev = null;
  let plot = null;

  function grafico() {
    const box = $("taxa");
    if (plot || typeof uPlot === "undefined") return;
    plot = new uPlot({
      width: Math.max(box.clientWidth, 200),
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, min, max) => [0, Math.max(10, max * 1.1)] } },
      axes: [
        { space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300], values: (u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString("pt-BR", { hour12: false })) },
        { size: 60, values: (u, vals) => vals.map(inteiro) },
      ],
      series: [{}, { label: "pedidos/s", stroke: "#2f6fd6", width: 2, fill: "rgba(47,111,214,.12)" }],
    }, [xs, ys], box);
    new ResizeObserver(() => plot.setSize({ width: Math.max(box.clientWidth, 200), height: 220 })).observe(box);
  }

  function taxa(v) {
    const t = Date.parse(v.emitido_em) / 1000;
    if (prev && t > prev.t && v.pedidos >= prev.pedidos) {
      const r = (v.pedidos - prev.pedidos) / (t - prev.t);
      xs.push(t);
      ys.push(r);
      $("taxa-atual").textContent = inteiro(r);
    } else if (prev && v.pedidos < prev.pedidos) {
      // Another process (a restart): its counts start again.
      xs.length = 0;
      ys.length = 0;
    }
    prev = { t: t, pedidos: v.pedidos };
    while (xs.length && xs[0] < t - JANELA_S) {
      xs.shift();
      ys.shift();
    }
    if (plot) plot.setData([xs, ys]);
  }

  // --- the bars: top products and the rest folded in "outros" ------------
  function barras(v) {
    const lista = $("barras");
    const linhas = v.top.map((p) => ({ nome: p.produto, valor: p.valor_total, outros: false }));
    if (v.outros.produtos > 0) {
      const n = v.outros.produtos;
      linhas.push({ nome: "outros (" + inteiro(n) + (n === 1 ? " produto)" : " produtos)"), valor: v.outros.valor_total, outros: true });
    }
    const maior = linhas.reduce((m, l) => Math.max(m, parseFloat(l.valor)), 0);
    const itens = linhas.map((l) => {
      const li = el("li", l.outros ? "barra outros" : "barra");
      const nome = el("span", "nome", l.nome);
      nome.title = l.nome;
      li.appendChild(nome);
      li.appendChild(el("span", "valor", reais(l.valor)));
      const trilho = el("div", "trilho");
      const barra = el("div", "preenchido");
      barra.style.width = (maior > 0 ? (100 * parseFloat(l.valor)) / maior : 0).toFixed(2) + "%";
      trilho.appendChild(barra);
      li.appendChild(trilho);
      li.dataset.valor = l.valor;
      return li;
    });
    lista.replaceChildren(...itens);
    $("produtos-info").textContent = inteiro(v.produtos) + (v.produtos === 1 ? " produto" : " produtos");
  }

  function rejeicoes(v) {
    $("rejeitados").textContent = inteiro(v.rejeitados) + " no total; os últimos motivos:";
    $("rejeicoes").replaceChildren(...v.rejeicoes.map((r) => {
      const tr = el("tr");
      cell(tr, hora(r.em));
      if (r.topico === undefined) {
        cell(tr, "–");
      } else {
        cell(tr, r.particao + " @ " + r.offset, "num");
        tr.lastChild.title = r.topico;
      }
      cell(tr, r.motivo, "motivo");
      return tr;
    }));
  }

  function particoes(v) {
    $("particoes").replaceChildren(...v.particoes.map((p) => {
      const tr = el("tr");
      tr.dataset.particao = p.topico + "/" + p.particao;
      cell(tr, p.topico);
      cell(tr, String(p.particao), "num");
      cell(tr, p.proximo_offset > 0 ? String(p.proximo_offset - 1) : "–", "num");
      cell(tr, p.fim === null ? "–" : String(p.fim), "num");
      cell(tr, p.atraso === null ? "–" : inteiro(p.atraso), "num");
      cell(tr, p.dono);
      return tr;
    }));
  }

  function janelas(v) {
    const painel = $("janelas-painel");
    if (!v.janelas) {
      painel.hidden = true;
      return;
    }
    painel.hidden = false;
    $("janelas-info").textContent = v.janelas.fechadas_ate ? "fechadas até " + hora(v.janelas.fechadas_ate) : "nenhuma fechada ainda";
    const linhas = [];
    for (const [j, estadoJanela] of [[v.janelas.atual, "aberta"], [v.janelas.ultima_fechada, "fechada"]]) {
      if (!j) continue;
      const tr = el("tr");
      tr.dataset.janela = estadoJanela;
      cell(tr, hora(j.inicio) + "–" + hora(j.fim));
      cell(tr, (estadoJanela === "fechada" ? (j.revisao > 1 ? "revisão " + j.revisao : "final") : "aberta") +
        (j.estouro ? " · ESTOURO" : ""));
      if (j.estouro) {
        tr.classList.add("estouro");
        tr.title = textoEstouro(j.estouro);
      }
      cell(tr, inteiro(j.pedidos), "num");
      cell(tr, inteiro(j.atrasados), "num");
      cell(tr, reais(j.valor_total), "num");
      cell(tr, j.top.map((p) => p.produto).join(", "));
      linhas.push(tr);
    }
    $("janelas").replaceChildren(...linhas);
  }

  // Sums over partitions beyond int64 are shown at its largest value and
  // named in estouro (CONTRACT section 8), on the view and on a window.
  function textoEstouro(e) {
    return "ESTOURO: somas acima do maior int64, mostradas nele: " + [...e.campos, ...e.produtos].join(", ");
  }
  function estouro(v) {
    const e = $("estouro");
    e.hidden = !v.estouro;
    e.textContent = v.estouro ? textoEstouro(v.estouro) : "";
  }

  function mostrar(v) {
    $("pedidos").textContent = inteiro(v.pedidos);
    $("unidades").textContent = inteiro(v.quantidade);
    $("receita").textContent = reais(v.valor_total);
    $("atualizado").textContent = "snapshot " + v.sequencia + " · " + hora(v.emitido_em);
    document.body.dataset.sequencia = String(v.sequencia);
    estouro(v);
    barras(v);
    rejeicoes(v);
    particoes(v);
    janelas(v);
    taxa(v);
  }

  function estado(nome, texto) {
    const e = $("estado");
    e.dataset.estado = nome;
    e.textContent = texto;
  }

  function conectar() {
    grafico();
    const es = new EventSource("totais/painel/stream");
    es.onopen = () => estado("ao-vivo", "ao vivo");
    es.onerror = () => estado("erro", es.readyState === EventSource.CLOSED ? "desconectado" : "reconectando…");
    es.onmessage = (ev) => {
      let v;
      try {
        v = JSON.parse(ev.data);
      } catch (err) {
        estado("erro", "resposta inválida do servidor");
        return;
      }
      mostrar(v);
    };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", conectar);
  } else {
    conectar();
  }
})();
