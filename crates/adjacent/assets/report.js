// adjacent's report page: draws a page of searches (crates/adjacent-search/src/page.rs) with
// ECharts. The data comes inlined (`adjacent report --html`) or, when the body names a source, from
// the dashboard's JSON endpoint, polled so the page follows a study while workers add trials.
// When a render ends, the body's data attributes say what was drawn (charts, points, errors), which
// the browser tests read.
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) {
    errors.push(String(e.message || e));
    document.body.dataset.errors = String(errors.length);
  });

  var body = document.body;
  var source = body.dataset.source;
  var sortState = {}; // table id -> {key, dir}
  var POLL_MS = 2000;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "-";
    return typeof v === "number" ? v.toFixed(digits) : String(v);
  }

  // Spend on a search's axis, in its unit.
  function unit(search) {
    return search.axis === "flops" ? "TFLOPs" : search.axis === "images" ? "training images" : "trials";
  }
  function scaled(search, x) { return search.axis === "flops" ? x / 1e12 : x; }

  // Colour of a value in [0, 1]: dark blue (worst) to yellow (best), as viridis.
  var STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(t) {
    t = Math.max(0, Math.min(1, t));
    var i = Math.min(STOPS.length - 2, Math.floor(t * (STOPS.length - 1)));
    var f = t * (STOPS.length - 1) - i;
    var c = STOPS[i].map(function (a, k) { return Math.round(a + f * (STOPS[i + 1][k] - a)); });
    return "rgb(" + c.join(",") + ")";
  }

  // The value that colours a trial, larger is better (accuracy, or minus the loss).
  function signalOf(search, t) {
    if (search.signal === "valid_acc") return t.valid_acc;
    return t.loss === null || t.loss === undefined ? null : -t.loss;
  }
  function signalName(search) {
    return search.signal === "valid_acc" ? "validation accuracy (%)" : "training loss, last quarter";
  }
  function shownSignal(search, v) { return search.signal === "valid_acc" ? v : -v; }

  function chart(node, option, points) {
    var c = echarts.getInstanceByDom(node) || echarts.init(node, null, { renderer: "canvas" });
    c.setOption(option, true);
    node.dataset.points = String(points);
    return c;
  }

  // Best validation accuracy against spend, the final model included; the control's line.
  // A search's validated trials and final model as points (spend, accuracy, what), and its best
  // validation accuracy so far as steps, the final model included.
  function bestSteps(search) {
    var best = -Infinity, steps = [], dots = [];
    search.trials.forEach(function (t) {
      if (t.state !== "complete" || t.valid_acc === null || t.spent === null) return;
      var x = scaled(search, t.spent);
      dots.push([x, t.valid_acc, t.id]);
      if (t.valid_acc > best) { best = t.valid_acc; steps.push([x, best]); }
    });
    var s = search.summary;
    if (s && s.valid_acc !== null) {
      var x = scaled(search, s.spent);
      best = Math.max(best, s.valid_acc);
      steps.push([x, best]);
      dots.push([x, s.valid_acc, "final model"]);
    }
    return { steps: steps, dots: dots };
  }

  function curveOption(search) {
    var made = bestSteps(search), steps = made.steps, dots = made.dots;
    // A search whose trials are scored by loss and that has not delivered yet (a live study of
    // adjacent's probes) has no accuracy to show: its best training loss instead.
    if (dots.length === 0 && search.signal === "loss") return lossCurveOption(search);
    var series = [
      { name: "best so far", type: "line", step: "end", data: steps, symbol: "none", lineStyle: { width: 2 } },
      { name: "validated trials and the final model", type: "scatter", data: dots, symbolSize: 6 }
    ];
    var c = search.control;
    if (c) {
      series.push({
        name: "control", type: "line", data: [], markLine: {
          symbol: "none", lineStyle: { type: "dashed", color: "#c23531" },
          label: { formatter: "control " + c.valid_acc.toFixed(2) + "%", position: "insideEndTop" },
          data: [{ yAxis: c.valid_acc }]
        }
      });
    }
    // The axes fit the points and the control's line (ECharts's own range ignores marked lines).
    var ys = dots.map(function (d) { return d[1]; }).concat(c ? [c.valid_acc] : []);
    var yLo = ys.length ? Math.floor(Math.min.apply(null, ys) - 0.5) : 0;
    var yHi = ys.length ? Math.ceil(Math.max.apply(null, ys) + 0.5) : 100;
    return {
      option: {
        animation: false,
        title: { text: "Best validation accuracy against compute", left: "center", textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item", formatter: function (p) {
          return p.seriesName + "<br>" + fmt(p.value[0], 3) + " " + unit(search) + ", " + fmt(p.value[1], 2) + "%" +
            (p.value[2] !== undefined ? " (trial " + p.value[2] + ")" : "");
        } },
        legend: { bottom: 0 },
        grid: { left: 65, right: 25, top: 40, bottom: 60 },
        xAxis: { type: "value", name: unit(search), nameLocation: "middle", nameGap: 25, min: 0 },
        yAxis: { type: "value", name: "validation accuracy (%)", nameLocation: "middle", nameGap: 40, min: yLo, max: yHi },
        series: series
      },
      points: steps.length + dots.length
    };
  }

  function lossCurveOption(search) {
    var best = Infinity, steps = [], dots = [];
    search.trials.forEach(function (t) {
      if (t.state !== "complete" || t.loss === null || t.spent === null) return;
      var x = scaled(search, t.spent);
      dots.push([x, t.loss, t.id]);
      if (t.loss < best) { best = t.loss; steps.push([x, best]); }
    });
    return {
      option: {
        animation: false,
        title: { text: "Best training loss against compute (no model delivered yet)", left: "center", textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item", formatter: function (p) {
          return p.seriesName + "<br>" + fmt(p.value[0], 3) + " " + unit(search) + ", loss " + fmt(p.value[1], 3) +
            (p.value[2] !== undefined ? " (trial " + p.value[2] + ")" : "");
        } },
        legend: { bottom: 0 },
        grid: { left: 65, right: 25, top: 40, bottom: 60 },
        xAxis: { type: "value", name: unit(search), nameLocation: "middle", nameGap: 25, min: 0 },
        yAxis: { type: "value", name: "training loss, last quarter", nameLocation: "middle", nameGap: 45, scale: true },
        series: [
          { name: "best so far", type: "line", step: "end", data: steps, symbol: "none", lineStyle: { width: 2 } },
          { name: "trials", type: "scatter", data: dots, symbolSize: 6 }
        ]
      },
      points: steps.length + dots.length
    };
  }

  // Every trial a node (x: the order trials ended, y: its signal), an edge from parent to child
  // with the morphism; the delivered line in red; ended lineages faded; failed trials as crosses.
  function genealogyOption(search) {
    var trials = search.trials;
    var values = trials.map(function (t) { return signalOf(search, t); }).filter(function (v) { return v !== null; });
    var lo = values.length ? Math.min.apply(null, values) : 0;
    var hi = values.length ? Math.max.apply(null, values) : 1;
    var floor = lo - (hi - lo || 1) * 0.08;
    var index = {};
    var nodes = trials.map(function (t, i) {
      index[t.id] = i;
      var v = signalOf(search, t);
      var style = { color: v === null ? "#bbb" : colour((v - lo) / ((hi - lo) || 1)) };
      var symbol = "circle", size = 9;
      if (t.state === "failed") { symbol = "path://M0,0 L10,10 M10,0 L0,10"; style = { color: "#a33", borderColor: "#a33", borderWidth: 2 }; }
      else if (t.state === "pruned") symbol = "rect";
      else if (t.state === "running" || t.state === "pending") { symbol = "emptyCircle"; style = { color: "#888" }; }
      if (t.extinct) style.opacity = 0.45;
      if (t.delivered) { symbol = "diamond"; size = 14; style.borderColor = "#c23531"; style.borderWidth = 2; }
      return {
        name: String(t.id), value: [i, v === null ? floor : v], symbol: symbol, symbolSize: size,
        itemStyle: style, trial: t
      };
    });
    var many = trials.length > 40;
    var links = [];
    trials.forEach(function (t) {
      if (t.parent === null || index[t.parent] === undefined) return;
      var onLine = t.delivered && trials[index[t.parent]].delivered;
      links.push({
        source: index[t.parent], target: index[t.id], mutation: t.mutation || "",
        label: { show: !many && !!t.mutation, formatter: t.mutation || "", fontSize: 9 },
        lineStyle: onLine ? { color: "#c23531", width: 3, opacity: 1 } : { color: t.inherit ? "#777" : "#bbb", width: 1, type: t.inherit ? "solid" : "dashed", opacity: 0.7 }
      });
    });
    return {
      option: {
        animation: false,
        title: { text: "Genealogy (colour: " + signalName(search) + ")", left: "center", textStyle: { fontSize: 13 } },
        tooltip: { formatter: function (p) {
          if (p.dataType === "edge") return "trial " + p.data.target + " from " + p.data.source + ": " + p.data.mutation;
          var t = p.data.trial;
          return "trial " + t.id + " (" + t.state + (t.delivered ? ", delivered line" : "") + (t.extinct ? ", lineage ended" : "") + ")<br>" +
            (t.parent !== null ? "from " + t.parent + (t.inherit ? " with its weights" : "") + ": " + (t.mutation || "") + "<br>" : (t.mutation ? "a start, " + t.mutation + "<br>" : "a start<br>")) +
            "valid " + fmt(t.valid_acc, 2) + "%, loss " + fmt(t.loss, 3) + ", " + fmt(t.params, 0) + " params" +
            (t.reason ? "<br>" + t.reason : "");
        } },
        grid: { left: 65, right: 25, top: 40, bottom: 40 },
        xAxis: { type: "value", name: "order the trials ended", nameLocation: "middle", nameGap: 25, min: -0.5 },
        yAxis: { type: "value", name: signalName(search), nameLocation: "middle", nameGap: 45, scale: true,
          axisLabel: { formatter: function (v) { return fmt(shownSignal(search, v), search.signal === "valid_acc" ? 1 : 3); } } },
        series: [{
          type: "graph", coordinateSystem: "cartesian2d", data: nodes, links: links,
          edgeSymbol: ["none", "arrow"], edgeSymbolSize: 6, emphasis: { focus: "adjacency" }
        }]
      },
      points: nodes.length
    };
  }

  // Accuracy (or loss) against parameters, with the Pareto front: no trial has fewer parameters
  // and a better signal.
  function paretoOption(search) {
    var pts = search.trials.filter(function (t) {
      return t.state === "complete" && t.params !== null && signalOf(search, t) !== null;
    }).map(function (t) { return [t.params, shownSignal(search, signalOf(search, t)), t.id]; });
    var sorted = pts.slice().sort(function (a, b) { return a[0] - b[0] || (search.signal === "valid_acc" ? b[1] - a[1] : a[1] - b[1]); });
    var front = [], best = null;
    sorted.forEach(function (p) {
      var better = best === null || (search.signal === "valid_acc" ? p[1] > best : p[1] < best);
      if (better) { best = p[1]; front.push(p); }
    });
    var series = [
      { name: "trials", type: "scatter", data: pts, symbolSize: 6, itemStyle: { opacity: 0.7 } },
      { name: "Pareto front", type: "line", step: "end", data: front, symbol: "circle", symbolSize: 5, lineStyle: { color: "#c23531" }, itemStyle: { color: "#c23531" } }
    ];
    var s = search.summary;
    if (s && s.params !== null && s.valid_acc !== null && search.signal === "valid_acc") {
      series.push({ name: "delivered model", type: "scatter", symbol: "diamond", symbolSize: 14, data: [[s.params, s.valid_acc, "final"]], itemStyle: { color: "#c23531" } });
    }
    return {
      option: {
        animation: false,
        title: { text: (search.signal === "valid_acc" ? "Accuracy" : "Training loss") + " against parameters", left: "center", textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item", formatter: function (p) {
          return p.seriesName + ": trial " + p.value[2] + ", " + fmt(p.value[0], 0) + " params, " + fmt(p.value[1], 3);
        } },
        legend: { bottom: 0 },
        grid: { left: 65, right: 25, top: 40, bottom: 60 },
        xAxis: { type: "log", name: "parameters", nameLocation: "middle", nameGap: 25 },
        yAxis: { type: "value", name: signalName(search), nameLocation: "middle", nameGap: 45, scale: true },
        series: series
      },
      points: pts.length
    };
  }

  // All searches' best validation accuracy against compute on one chart.
  function comparisonOption(page) {
    var series = page.searches.map(function (search) {
      var steps = bestSteps(search).steps;
      return { name: search.strategy + " seed " + search.seed + " (" + search.name + ")", type: "line", step: "end", data: steps, symbolSize: 5 };
    });
    var points = series.reduce(function (n, s) { return n + s.data.length; }, 0);
    return {
      option: {
        animation: false,
        title: { text: "Every search: best validation accuracy against compute", left: "center", textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item" },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 65, right: 25, top: 40, bottom: 60 },
        xAxis: { type: "value", name: unit(page.searches[0]), nameLocation: "middle", nameGap: 25, min: 0 },
        yAxis: { type: "value", name: "validation accuracy (%)", nameLocation: "middle", nameGap: 40, scale: true },
        series: series
      },
      points: points
    };
  }

  function summaryList(search) {
    var s = search.summary, items = [
      ["strategy", search.strategy + ", seed " + search.seed],
      ["data", search.data],
      ["budget", search.budget || "-"],
      ["status", search.status]
    ];
    if (s) {
      items.push(["delivered", "valid " + fmt(s.valid_acc, 2) + "%, test " + fmt(s.test_acc, 2) + "%, " + fmt(s.params, 0) + " params"]);
      items.push(["network", s.arch || "-"]);
      items.push(["spent", fmt(scaled(search, s.spent), search.axis === "flops" ? 3 : 0) + " " + unit(search) + " in " + fmt(s.seconds, 0) + " s"]);
      var delivered = s.delivered_trial === null ? "" : search.axis === "trials" ? "; the best: trial " + s.delivered_trial :
        "; the final phase trained trial " + s.delivered_trial + "'s network";
      items.push(["trials", s.trials + " (" + s.failed + " failed)" + delivered]);
    } else {
      items.push(["trials", String(search.trials.length)]);
    }
    var c = search.control;
    if (search.strategy === "fixed") items.push(["control", "this search is a control: one network trained with the whole budget"]);
    else items.push(["control", c ? c.label + ": valid " + fmt(c.valid_acc, 2) + "%, test " + fmt(c.test_acc, 2) + "% at " + fmt(scaled(search, c.spent), 3) + " " + unit(search) :
      "none among these searches (run --strategy fixed with the same budget beside it)"]);
    var dl = el("dl", { "class": "summary" });
    items.forEach(function (kv) { dl.appendChild(el("dt", { text: kv[0] })); dl.appendChild(el("dd", { text: kv[1] })); });
    return dl;
  }

  var COLUMNS = [
    ["id", "trial", "num"], ["parent", "parent", "num"], ["mutation", "morphism", "text"], ["state", "state", "text"],
    ["valid_acc", "valid (%)", "num"], ["loss", "loss", "num"], ["params", "params", "num"], ["spent", "spent", "num"],
    ["seconds", "seconds", "num"], ["arch", "network", "text"], ["worker", "worker", "text"], ["reason", "reason", "text"]
  ];

  function cell(search, t, col) {
    var v = t[col[0]];
    if (col[0] === "valid_acc") return fmt(v, 2);
    if (col[0] === "loss") return fmt(v, 3);
    if (col[0] === "seconds") return fmt(v, 1);
    if (col[0] === "spent") return v === null ? "-" : fmt(scaled(search, v), search.axis === "flops" ? 3 : 0);
    if (col[0] === "params" || col[0] === "id" || col[0] === "parent") return v === null ? "-" : String(v);
    if (col[0] === "mutation" && t.parent !== null) return (t.inherit ? "" : "(fresh) ") + (v || "");
    return v === null || v === undefined ? "-" : String(v);
  }

  function trialTable(search, id) {
    var state = sortState[id] || { key: "id", dir: 1 };
    var rows = search.trials.slice().sort(function (a, b) {
      var x = a[state.key], y = b[state.key];
      if (x === y) return a.id - b.id;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * state.dir;
    });
    var head = el("tr", {}, COLUMNS.map(function (col) {
      var th = el("th", { "class": col[2] === "text" ? "text" : "", "data-key": col[0], text: col[1] });
      if (state.key === col[0]) th.classList.add(state.dir > 0 ? "sorted-asc" : "sorted-desc");
      th.addEventListener("click", function () {
        sortState[id] = { key: col[0], dir: state.key === col[0] ? -state.dir : 1 };
        var box = document.getElementById(id);
        box.replaceChild(trialTable(search, id), box.firstChild);
      });
      return th;
    }));
    var tbody = el("tbody", {}, rows.map(function (t) {
      var cls = (t.delivered ? "delivered " : "") + (t.state === "failed" ? "failed" : "");
      return el("tr", { "class": cls }, COLUMNS.map(function (col) {
        return el("td", { "class": col[2] === "text" ? "text" + (col[0] === "arch" ? " arch" : "") : "", text: cell(search, t, col) });
      }));
    }));
    return el("table", {}, [el("thead", {}, [head]), tbody]);
  }

  function render(page) {
    var t0 = performance.now();
    document.title = page.title;
    var main = document.getElementById("searches");
    // Charts are kept across polls (ECharts instances); everything else is drawn again.
    var charts = 0, points = 0, trials = 0;
    var draw = function (node, made) { chart(node, made.option, made.points); charts += 1; points += made.points; };
    if (page.searches.length > 1) {
      var cmp = document.getElementById("cmp") || main.appendChild(el("section", { id: "cmp", "class": "search wide" }, [el("div", { "class": "chart tall", id: "cmp-chart" })]));
      draw(cmp.querySelector(".chart"), comparisonOption(page));
    }
    page.searches.forEach(function (search, i) {
      var id = "search-" + i;
      var section = document.getElementById(id);
      if (!section) {
        section = el("section", { id: id, "class": "search" }, [
          el("h2"), el("div", { "class": "summary-box" }),
          el("div", { "class": "chart", "data-chart": "curve" }),
          el("div", { "class": "trial-part" })
        ]);
        main.appendChild(section);
      }
      section.querySelector("h2").textContent = search.name;
      var box = section.querySelector(".summary-box");
      box.replaceChildren(summaryList(search));
      draw(section.querySelector('[data-chart="curve"]'), curveOption(search));
      // A search without trials (fixed trains one network) has no genealogy and no table.
      var part = section.querySelector(".trial-part");
      if (search.trials.length === 0) { part.replaceChildren(); return; }
      if (!part.firstChild) {
        part.replaceChildren(
          el("div", { "class": "chart tall", "data-chart": "genealogy" }),
          el("p", { "class": "legend", text: "A node is a trial, placed in the order trials ended at its " + signalName(search) +
            " (trials without one at the bottom); an edge runs from parent to child, solid when the child started from its parent's weights, labelled with the morphism (hover when there are many). Red diamonds: the line of parents of the delivered network. Faded: lineages that ended (no child, not delivered). Crosses: failed trials; squares: stopped early." }),
          el("div", { "class": "chart", "data-chart": "pareto" }),
          el("h3", { text: "Trials (click a column to sort)" }),
          el("div", { "class": "tablebox", id: id + "-table" }, [el("table")])
        );
      }
      draw(section.querySelector('[data-chart="genealogy"]'), genealogyOption(search));
      draw(section.querySelector('[data-chart="pareto"]'), paretoOption(search));
      var tableBox = document.getElementById(id + "-table");
      tableBox.replaceChild(trialTable(search, id + "-table"), tableBox.firstChild);
      trials += search.trials.length;
    });
    body.dataset.charts = String(charts);
    body.dataset.points = String(points);
    body.dataset.trials = String(trials);
    body.dataset.renderMs = String(Math.round(performance.now() - t0));
    body.dataset.renders = String(Number(body.dataset.renders || 0) + 1);
    body.dataset.errors = String(errors.length);
  }

  window.addEventListener("resize", function () {
    document.querySelectorAll(".chart").forEach(function (n) { var c = echarts.getInstanceByDom(n); if (c) c.resize(); });
  });

  if (!source) {
    render(JSON.parse(document.getElementById("adjacent-data").textContent));
    return;
  }
  var status = document.getElementById("status");
  function poll() {
    fetch(source, { cache: "no-store" }).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(t || r.statusText); });
      return r.json();
    }).then(function (page) {
      render(page);
      status.textContent = "live: updated " + new Date().toLocaleTimeString() + ", every " + POLL_MS / 1000 + " s";
    }).catch(function (e) {
      // The storage may be busy or the server restarting: say so and try again.
      status.textContent = "could not read the study (" + e.message + "); trying again";
    }).then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
