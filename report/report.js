// kiln report's page script: builds the tables and Vega-Lite charts (benchmark and accuracy) from the
// embedded #kiln-data JSON (written by `kiln report`), marks the body with data-charts / data-rendered /
// data-errors for the headless test, and with #png in the URL puts each chart's PNG (data URL) into a hidden
// textarea for `kiln report --png`.
(function () {
  "use strict";
  var errors = window.__kilnErrors || [];  // filled by the template's first script (console.error, window errors)
  function markErrors() { document.body.setAttribute("data-errors", String(errors.length)); }

  if (typeof vegaEmbed !== "function") {
    errors.push("vega-embed did not load");
    markErrors();
    return;
  }
  var D = JSON.parse(document.getElementById("kiln-data").textContent);
  var root = document.getElementById("report");
  var charts = [];  // {id, title, spec}
  var W = 900;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function section(title, note) {
    root.appendChild(el("h2", {}, title));
    if (note) root.appendChild(el("p", { "class": "note" }, note));
  }
  function empty(text) { root.appendChild(el("div", { "class": "empty" }, text)); }
  function chart(id, title, spec) {
    var div = el("div", { "class": "chart", id: "chart-" + id, "data-title": title });
    root.appendChild(div);
    spec.$schema = "https://vega.github.io/schema/vega-lite/v5.json";
    charts.push({ id: id, title: title, spec: spec });
  }
  var noGpu = "no GPU was found: the results hold no GPU measurements (NVML samples), so this section is empty" +
      (D.gpu_reason ? " (" + D.gpu_reason + ")" : "") + ".";

  document.getElementById("subtitle").textContent = D.subtitle;
  var rows = D.rows, stat = rows.filter(function (r) { return r.batch > 0 && r.kind === "static"; });

  // ---- summary table ----
  section("Summary", "Median latency with its 95% confidence interval; acceleration = baseline median / median " +
      "at the same batch and shape (baseline: " + (D.baseline || "none") + "). Latency is " +
      "CUDA-event GPU time where timing = cuda_events, else wall time per call.");
  var t = el("table");
  var head = ["backend", "precision", "mode", "batch", "shape", "median ms", "95% CI", "p99 ms", "samples/s",
              "speed-up", "timing"];
  var tr = el("tr");
  head.forEach(function (h, i) { tr.appendChild(el("th", { "class": i < 3 || i === 4 ? "l" : "" }, h)); });
  t.appendChild(tr);
  function f(v, d) { return v === null || v === undefined ? "–" : Number(v).toPrecision(d || 4); }
  rows.forEach(function (r) {
    var tr = el("tr");
    [r.backend, r.precision, r.mode,
     r.batch > 0 ? r.batch + (r.kind !== "static" ? " (" + r.kind + ")" : "") : "random " + r.random, r.shape, f(r.median),
     r.ci_low === null ? "–" : f(r.ci_low) + " – " + f(r.ci_high), f(r.p99), f(r.samples_per_s),
     r.speedup === null ? "–" : f(r.speedup, 3) + "×", r.timing].forEach(function (v, i) {
      tr.appendChild(el("td", { "class": i < 3 || i === 4 ? "l" : "" }, String(v)));
    });
    t.appendChild(tr);
  });
  root.appendChild(t);

  // ---- latency ----
  section("Latency distributions", "Every timed iteration (box: quartiles, whiskers: Tukey 1.5 IQR, points: " +
      "outliers, counted and never dropped)" + (D.subsampled ? "; cases with many iterations are evenly subsampled " +
      "to " + D.max_samples + " points for the page" : "") + ".");
  if (D.samples.length) {
    chart("latency", "Latency distribution", {
      data: { values: D.samples }, mark: { type: "boxplot", extent: 1.5 }, width: W - 250,
      height: { step: 18 },
      encoding: {
        y: { field: "case", type: "nominal", title: null, sort: null },
        x: { field: "ms", type: "quantitative", title: "latency (ms)", scale: { type: "log" } },
        color: { field: "label", type: "nominal", title: "backend" }
      }
    });
  } else { empty("no latency samples in these results"); }

  section("Throughput vs batch size");
  if (stat.length) {
    chart("throughput", "Throughput vs batch size", {
      data: { values: stat }, width: W - 250, height: 300,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "batch", type: "quantitative", scale: { type: "log", base: 2 }, title: "batch size" },
        y: { field: "samples_per_s", type: "quantitative", title: "samples / s" },
        color: { field: "label", type: "nominal", title: "backend" },
        detail: { field: "shape", type: "nominal" },
        tooltip: [{ field: "label" }, { field: "batch" }, { field: "shape" },
                  { field: "samples_per_s", format: ".4~g" }, { field: "median", format: ".4~g" }]
      }
    });
    chart("median", "Median latency vs batch size", {
      data: { values: stat }, width: W - 250, height: 300,
      layer: [
        { mark: { type: "line", point: true },
          encoding: { y: { field: "median", type: "quantitative", title: "median latency (ms)",
                           scale: { type: "log" } } } },
        { mark: "errorbar", encoding: { y: { field: "ci_low", type: "quantitative", title: "median latency (ms)" },
                                         y2: { field: "ci_high" } } }
      ],
      encoding: {
        x: { field: "batch", type: "quantitative", scale: { type: "log", base: 2 }, title: "batch size" },
        color: { field: "label", type: "nominal", title: "backend" }, detail: { field: "shape", type: "nominal" }
      }
    });
  } else { empty("no fixed-batch cases in these results"); }

  section("Acceleration vs " + (D.baseline || "a baseline"), D.baseline ? "Baseline median / median at the same " +
      "batch and shape; above 1 is faster than " + D.baseline + "." : null);
  var acc = stat.filter(function (r) { return r.speedup !== null; });
  if (acc.length) {
    chart("acceleration", "Acceleration vs " + D.baseline, {
      data: { values: acc }, width: W - 250, height: 300,
      layer: [
        { mark: "bar", encoding: {
          x: { field: "batch", type: "ordinal", title: "batch size" }, xOffset: { field: "label" },
          y: { field: "speedup", type: "quantitative", title: "× " + D.baseline },
          color: { field: "label", type: "nominal", title: "backend" },
          tooltip: [{ field: "label" }, { field: "batch" }, { field: "speedup", format: ".3~g" }] } },
        { mark: { type: "rule", color: "#444", strokeDash: [4, 3] }, encoding: { y: { datum: 1 } } }
      ]
    });
  } else { empty("no baseline to compare with (one backend only, or no shared batch sizes)"); }

  // ---- accuracy (kiln.accuracy/1) ----
  section("Accuracy", "From kiln accuracy --json: top-1 / top-k accuracy, precision, recall and F1 averaged over " +
      "the classes (macro) and over the samples (micro), one-vs-rest ROC-AUC, and the agreement: the share of " +
      "top-1 predictions equal to the reference (first) backend's.");
  var ACC = D.accuracy || [];
  if (!ACC.length) {
    var dir = D.results_dir || "RESULTS";
    empty("no kiln accuracy results in " + dir + "; run kiln accuracy MODEL --dataset DATA.npz --labels " +
        "LABELS --backends cpu,... --json " + dir.replace(/\/+$/, "") + "/accuracy.json");
  }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(2) + "%"; }
  function fixed(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(4); }
  ACC.forEach(function (a, i) {
    root.appendChild(el("h3", {}, a.model + " on " + a.dataset));
    root.appendChild(el("p", { "class": "note" }, (a.samples === null ? "?" : a.samples) + " samples · labels " +
        a.labels + " · output " +
        a.output + " · " + a.classes + " classes · reference " + a.reference + " · " + a.file));
    var cols = [["top1", "top-1", pct], ["topk", a.topk_label, pct], ["macro_precision", "macro P", fixed],
                ["macro_recall", "macro R", fixed], ["macro_f1", "macro F1", fixed], ["micro_f1", "micro F1", fixed],
                ["macro_roc_auc", "macro ROC-AUC", fixed], ["agreement", "agreement", pct]];
    var t = el("table", { "class": "accuracy", "data-file": a.file });
    var tr = el("tr");
    tr.appendChild(el("th", { "class": "l" }, "backend"));
    cols.forEach(function (c) { tr.appendChild(el("th", {}, c[1])); });
    tr.appendChild(el("th", { "class": "l" }, "description"));
    t.appendChild(tr);
    a.backends.forEach(function (b) {
      var tr = el("tr", { "data-backend": b.name });
      tr.appendChild(el("td", { "class": "l" }, b.name));
      cols.forEach(function (c) {
        var v = b[c[0]];
        tr.appendChild(el("td", { "data-metric": c[0], "data-value": v === null ? "" : String(v) }, c[2](v)));
      });
      tr.appendChild(el("td", { "class": "l" }, b.description));
      t.appendChild(tr);
    });
    root.appendChild(t);
    var tag = ACC.length > 1 ? " (" + a.file + ")" : "";
    chart("accuracy_" + i, "Top-1 / " + a.topk_label + " accuracy" + tag, {
      data: { values: a.bars }, width: { step: 40 }, height: 250, mark: "bar",
      encoding: {
        x: { field: "backend", type: "nominal", sort: null, title: "backend" },
        xOffset: { field: "metric", sort: null },
        y: { field: "value", type: "quantitative", title: "accuracy", axis: { format: "%" },
             scale: { domain: [0, 1] } },
        color: { field: "metric", type: "nominal", sort: null, title: null },
        tooltip: [{ field: "backend" }, { field: "metric" }, { field: "value", format: ".2%" }]
      }
    });
    var domain = [];
    for (var k = 0; k < a.classes; k++) domain.push(k);
    var side = Math.min(480, Math.max(160, 24 * a.classes));
    a.confusion.forEach(function (m, j) {
      var max = 0;
      m.cells.forEach(function (c) { max = Math.max(max, c.count); });
      var enc = {
        x: { field: "predicted_class", type: "ordinal", title: "predicted class", scale: { domain: domain } },
        y: { field: "true_class", type: "ordinal", title: "true class", scale: { domain: domain } }
      };
      var layers = [{ mark: "rect", encoding: {
        color: { field: "count", type: "quantitative", title: "samples", scale: { scheme: "blues" } },
        tooltip: [{ field: "true_class", title: "true" }, { field: "predicted_class", title: "predicted" },
                  { field: "count" }, { field: "share", title: "share of the true class", format: ".1%" }] } }];
      if (a.classes <= 20) {
        layers.push({ mark: { type: "text", fontSize: 10 }, encoding: {
          text: { field: "count", type: "quantitative" },
          color: { condition: { test: "datum.count > " + max / 2, value: "white" }, value: "#222" } } });
      }
      chart("confusion_" + i + "_" + j, "Confusion matrix: " + m.backend + tag, {
        data: { values: m.cells }, width: side, height: side, encoding: enc, layer: layers
      });
    });
    if (a.confusion_note) root.appendChild(el("p", { "class": "note" }, a.confusion_note));
  });

  // ---- dynamic study ----
  var dyn = rows.filter(function (r) { return r.kind && r.kind.indexOf("dyn-") === 0; });
  if (dyn.length) {
    section("Dynamic-shape study", "min / opt / max batch of the optimization profile, and a random batch per " +
        "iteration: median latency and samples/s.");
    chart("dynamic", "Dynamic study", {
      data: { values: dyn }, width: W - 250, height: 250,
      mark: "bar",
      encoding: { x: { field: "kind", type: "nominal", sort: ["dyn-min", "dyn-opt", "dyn-max", "dyn-random"] },
                  xOffset: { field: "label" }, y: { field: "samples_per_s", type: "quantitative", title: "samples / s" },
                  color: { field: "label", type: "nominal", title: "backend" },
                  tooltip: [{ field: "label" }, { field: "kind" }, { field: "median", format: ".4~g" }] }
    });
  }

  // ---- GPU ----
  section("GPU memory");
  var gmem = rows.filter(function (r) { return r.gpu_mem_max !== null; });
  if (gmem.length) {
    chart("gpu_memory", "GPU memory used (max, whole device)", {
      data: { values: gmem }, width: W - 250, height: { step: 18 }, mark: "bar",
      encoding: { y: { field: "case", type: "nominal", sort: null, title: null },
                  x: { field: "gpu_mem_max_mib", type: "quantitative", title: "MiB used (NVML, max)" },
                  color: { field: "label", type: "nominal", title: "backend" } }
    });
    if (D.engine_memory.length) {
      chart("engine_memory", "Engine memory", {
        data: { values: D.engine_memory }, width: W - 250, height: { step: 18 }, mark: "bar",
        encoding: { y: { field: "case", type: "nominal", sort: null, title: null },
                    x: { field: "mib", type: "quantitative", title: "MiB" },
                    color: { field: "part", type: "nominal" } }
      });
    }
  } else { empty(noGpu); }

  section("GPU utilisation and power over time", "NVML samples every 100 ms; t = 0 is the first timed iteration.");
  if (D.gpu_series.length) {
    ["util", "power_w", "sm_clock"].forEach(function (k) {
      var title = { util: "GPU utilisation (%)", power_w: "power (W)", sm_clock: "SM clock (MHz)" }[k];
      chart("gpu_" + k, title, {
        data: { values: D.gpu_series }, width: W - 250, height: 200, mark: "line",
        transform: [{ filter: "datum." + k + " !== null" }],
        encoding: { x: { field: "t_s", type: "quantitative", title: "s" },
                    y: { field: k, type: "quantitative", title: title },
                    color: { field: "case", type: "nominal" } }
      });
    });
  } else { empty(noGpu); }

  // ---- CPU ----
  section("CPU latency, RAM and utilisation", "Process CPU time / wall time over the timed iterations " +
      "(100% = one core) and the process's peak resident memory.");
  var cpuRows = rows.filter(function (r) { return r.backend === "cpu"; });
  if (cpuRows.length) {
    chart("cpu_latency", "CPU reference latency (median)", {
      data: { values: cpuRows }, width: W - 250, height: { step: 18 }, mark: "bar",
      encoding: { y: { field: "case", type: "nominal", sort: null, title: null },
                  x: { field: "median", type: "quantitative", title: "median latency (ms)" } }
    });
  }
  chart("cpu_util", "Process CPU utilisation", {
    data: { values: rows }, width: W - 250, height: { step: 18 }, mark: "bar",
    encoding: { y: { field: "case", type: "nominal", sort: null, title: null },
                x: { field: "cpu_util", type: "quantitative", title: "CPU % (100 = one core)" },
                color: { field: "label", type: "nominal", title: "backend" } }
  });
  chart("ram", "Peak RSS", {
    data: { values: rows }, width: W - 250, height: { step: 18 }, mark: "bar",
    encoding: { y: { field: "case", type: "nominal", sort: null, title: null },
                x: { field: "rss_mib", type: "quantitative", title: "peak resident memory (MiB)" },
                color: { field: "label", type: "nominal", title: "backend" } }
  });

  // ---- layers ----
  section("Per-layer time", "From kiln bench --dumpProfile (one profiled run, not graph-replayed).");
  if (D.layers.length) {
    chart("layers", "Per-layer GPU time (top layers)", {
      data: { values: D.layers }, width: W - 300, height: { step: 14 }, mark: "bar",
      encoding: { y: { field: "name", type: "nominal", sort: "-x", title: null },
                  x: { field: "ms", type: "quantitative", title: "ms" },
                  color: { field: "op", type: "nominal" }, row: { field: "case", type: "nominal", title: null } },
      resolve: { scale: { y: "independent" } }
    });
  } else { empty("no per-layer profile in these results (run kiln bench --backend cuda --dumpProfile)"); }

  // ---- environment ----
  section("Environment");
  var env = el("table");
  D.environment.forEach(function (kv) {
    var tr = el("tr");
    tr.appendChild(el("th", { "class": "l" }, kv[0]));
    tr.appendChild(el("td", { "class": "l" }, kv[1]));
    env.appendChild(tr);
  });
  root.appendChild(env);

  // ---- render ----
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-rendered", "0");
  markErrors();
  var exportPng = window.location.hash === "#png";
  var done = 0;
  charts.forEach(function (c) {
    vegaEmbed("#chart-" + c.id, c.spec, { actions: { export: true, source: false, compiled: false, editor: false } })
      .then(function (res) {
        var div = document.getElementById("chart-" + c.id);
        div.setAttribute("data-rendered", "1");
        done += 1;
        document.body.setAttribute("data-rendered", String(done));
        if (exportPng) {
          return res.view.toImageURL("png", 2).then(function (url) {
            var ta = el("textarea", { "class": "png-export", "data-name": c.id });
            ta.textContent = url;
            document.body.appendChild(ta);
          });
        }
      })
      .catch(function (e) { errors.push("chart " + c.id + ": " + e); })
      .then(markErrors);
  });
})();
