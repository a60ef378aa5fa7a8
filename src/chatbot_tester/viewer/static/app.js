// chatbot-tester view: a small single-page app over the viewer's JSON API.
// Every value from the API (run names, answers, reasons) is untrusted: it only ever
// reaches the page through textContent and attribute setters, never as markup.
(function () {
  "use strict";
  var main = document.getElementById("main"), nav = document.getElementById("nav");
  var SVGNS = "http://www.w3.org/2000/svg", timers = [], sources = [];

  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) node.addEventListener(ev, attrs.on[ev]);
      else if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return parent;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function num(v, d) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "–";
    var a = Math.abs(v);
    return v.toFixed(d !== undefined ? d : a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  }
  function pct(v) { return typeof v === "number" ? (100 * v).toFixed(1) + "%" : "–"; }
  function api(path, opts) {
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error : "HTTP " + r.status);
        return body;
      });
    });
  }
  function enc(s) { return encodeURIComponent(s); }
  function badge(status) { return el("span", { "class": "badge " + status, text: status }); }
  function fail(err) { main.textContent = ""; add(main, el("p", { "class": "error", text: String(err.message || err) })); }
  function table(heads, rows, numeric) {
    var t = el("table"), tr = el("tr");
    heads.forEach(function (h) { add(tr, el("th", { text: h })); });
    add(t, add(el("thead"), tr));
    var tb = el("tbody");
    add(t, tb);
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c, i) {
        var td = el("td", { "class": numeric && numeric[i] ? "n" : null });
        add(td, c instanceof Node ? c : String(c === null || c === undefined ? "–" : c));
        add(row, td);
      });
      add(tb, row);
    });
    return t;
  }
  function headline(metrics) {
    return Object.keys(metrics || {}).slice(0, 3).map(function (name) {
      var m = metrics[name] || {}, v = m.pass_rate !== null && m.pass_rate !== undefined ? m.pass_rate : m.mean;
      var lo = m.pass_rate !== null && m.pass_rate !== undefined ? m.pass_ci_low : m.ci_low;
      var hi = m.pass_rate !== null && m.pass_rate !== undefined ? m.pass_ci_high : m.ci_high;
      return name + " " + num(v) + (typeof lo === "number" ? " [" + num(lo) + ", " + num(hi) + "]" : "");
    }).join("; ");
  }

  // ---- charts ------------------------------------------------------------------------------
  function frame(title, W, H) {
    var s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
    return s;
  }
  function axes(s, x0, y0, x1, y1, xlabels, ylabels, xname, yname) {
    add(s, svg("line", { "class": "axis", x1: x0, y1: y1, x2: x1, y2: y1 }), svg("line", { "class": "axis", x1: x0, y1: y0, x2: x0, y2: y1 }));
    xlabels.forEach(function (l) { add(s, svg("text", { x: l[0], y: y1 + 12, "text-anchor": "middle" }, l[1])); });
    ylabels.forEach(function (l) { add(s, svg("text", { x: x0 - 4, y: l[0] + 3, "text-anchor": "end" }, l[1])); });
    if (xname) add(s, svg("text", { x: (x0 + x1) / 2, y: y1 + 26, "text-anchor": "middle" }, xname));
    if (yname) add(s, svg("text", { x: 4, y: y0 - 6 }, yname));
  }
  function ticks(lo, hi, n) { var out = []; for (var i = 0; i <= n; i++) out.push(lo + (hi - lo) * i / n); return out; }
  // CDF from quantiles: one line per series [{name, q: [...] }]
  function cdfChart(title, series, unit) {
    var W = 420, H = 220, L = 44, R = 12, T = 16, B = 34;
    var all = [].concat.apply([], series.map(function (s) { return s.q; }));
    var fig = el("figure", { "class": "chart cdf" });
    if (!all.length) return add(fig, el("figcaption", { text: title + ": no data" }));
    var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all); if (hi === lo) hi = lo + 1;
    var s = frame(title, W, H);
    function X(v) { return L + (W - L - R) * (v - lo) / (hi - lo); }
    function Y(p) { return H - B - (H - T - B) * p; }
    axes(s, L, T, W - R, H - B, ticks(lo, hi, 4).map(function (v) { return [X(v), num(v)]; }),
      [0, 0.5, 1].map(function (p) { return [Y(p), (p * 100) + "%"]; }), unit, "share ≤ x");
    series.forEach(function (se, i) {
      var pts = se.q.map(function (v, k) { return X(v) + "," + Y(se.q.length > 1 ? k / (se.q.length - 1) : 1); });
      add(s, svg("polyline", { "class": "line s" + i, points: pts.join(" ") }));
      add(s, svg("text", { x: W - R - 4, y: T + 12 * (i + 1), "text-anchor": "end", "class": "legend s" + i }, se.name));
    });
    return add(fig, s, el("figcaption", { text: title }));
  }
  function barChart(title, items, max) {
    var W = 460, rowH = 18, L = 150, R = 60, H = 20 + rowH * items.length + 20;
    var fig = el("figure", { "class": "chart bars" }), s = frame(title, W, H);
    max = max || Math.max.apply(null, items.map(function (x) { return x[1]; }).concat([1]));
    items.forEach(function (it, i) {
      var y = 10 + i * rowH, w = (W - L - R) * it[1] / max;
      var label = it[0].length > 22 ? it[0].slice(0, 21) + "…" : it[0];
      add(s, svg("text", { x: L - 6, y: y + 12, "text-anchor": "end" }, label));
      var r = svg("rect", { "class": "bar", x: L, y: y + 2, width: Math.max(1, w), height: rowH - 5 });
      add(r, svg("title", {}, it[0] + ": " + it[2]));
      add(s, r, svg("text", { x: L + w + 4, y: y + 12 }, it[2]));
    });
    axes(s, L, 6, W - R, H - 16, ticks(0, max, 4).map(function (v) { return [L + (W - L - R) * v / max, max === 1 ? (100 * v).toFixed(0) + "%" : num(v)]; }), [], "", "");
    return add(fig, s, el("figcaption", { text: title }));
  }
  function trendChart(title, points, value, band, onClick) {
    var W = 560, H = 220, L = 48, R = 12, T = 16, B = 34;
    var fig = el("figure", { "class": "chart trend" }), s = frame(title, W, H);
    var vals = [];
    points.forEach(function (p) { [value(p)].concat(band ? band(p) : []).forEach(function (v) { if (typeof v === "number") vals.push(v); }); });
    if (!vals.length) return add(fig, el("figcaption", { text: title + ": no data" }));
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals); if (hi === lo) { lo -= 0.5; hi += 0.5; }
    function X(i) { return L + (W - L - R) * (points.length > 1 ? i / (points.length - 1) : 0.5); }
    function Y(v) { return H - B - (H - T - B) * (v - lo) / (hi - lo); }
    axes(s, L, T, W - R, H - B, points.map(function (p, i) { return [X(i), String(i + 1)]; }).filter(function (x, i, a) { return a.length < 12 || i % Math.ceil(a.length / 10) === 0; }),
      ticks(lo, hi, 4).map(function (v) { return [Y(v), num(v)]; }), "run (oldest → newest)", "");
    if (band) {
      var top = [], bot = [];
      points.forEach(function (p, i) { var b = band(p); if (typeof b[0] === "number") { bot.push(X(i) + "," + Y(b[0])); top.unshift(X(i) + "," + Y(b[1])); } });
      if (top.length) add(s, svg("polygon", { "class": "band", points: bot.concat(top).join(" ") }));
    }
    var line = [];
    points.forEach(function (p, i) { var v = value(p); if (typeof v === "number") line.push(X(i) + "," + Y(v)); });
    add(s, svg("polyline", { "class": "line s0", points: line.join(" ") }));
    points.forEach(function (p, i) {
      var v = value(p); if (typeof v !== "number") return;
      var dot = svg("circle", { "class": "dot" + (p.passed === false ? " failed" : ""), cx: X(i), cy: Y(v), r: 4, "data-run": p.run_id });
      add(dot, svg("title", {}, p.run_id + ": " + num(v)));
      dot.addEventListener("click", function () { onClick(p); });
      add(s, dot);
    });
    return add(fig, s, el("figcaption", { text: title }));
  }

  // ---- runs list ------------------------------------------------------------------------
  function runsPage(params) {
    var filters = el("div", { "class": "bar-row" }), box = el("div"), picked = [];
    var q = el("input", { type: "search", placeholder: "search runs, pipelines, tags", id: "run-search" });
    var pipe = el("select", { id: "pipeline-filter" }, el("option", { value: "", text: "all pipelines" }));
    var status = el("select", { id: "status-filter" });
    ["", "completed", "running", "interrupted", "failed", "aborted"].forEach(function (s) { add(status, el("option", { value: s, text: s || "any status" })); });
    var cmp = el("button", { id: "compare-selected", disabled: "disabled", text: "compare selected" });
    cmp.addEventListener("click", function () { location.hash = "#/compare/" + enc(picked[0]) + "/" + enc(picked[1]); });
    add(filters, q, pipe, status, cmp);
    var groups = el("div", { id: "groups" });
    add(main, groups, el("h1", { text: "Runs" }), filters, box);
    var groupOf = {};  // run id -> its variant set, to link the variant column
    var groupsLoaded = api("/api/groups").then(function (d) {
      d.groups.forEach(function (g) { g.variants.forEach(function (v) { groupOf[v.run_id] = g.group; }); });
      if (!d.groups.length) return;
      add(groups, el("h1", { text: "Variant sets" }), table(["variant set", "pipeline", "started", "variants (baseline first)", "regressed"], d.groups.map(function (g) {
        return [el("a", { href: "#/group/" + enc(g.group), text: g.group, "class": "group-link" }), g.pipeline || "–", (g.created_at || "").replace("T", " ").slice(0, 19),
          g.variants.map(function (v) { return v.name; }).join(", "), g.regressed.length ? badge("fail") : badge("pass")];
      }), [0, 0, 0, 0, 0]));
      groups.querySelector("table").id = "groups-table";
    }).catch(function (e) { add(groups, el("p", { "class": "error", text: e.message })); });
    var known = {};
    function load() {
      var qs = "?q=" + enc(q.value) + "&pipeline=" + enc(pipe.value) + "&status=" + enc(status.value);
      return api("/api/runs" + qs).then(function (data) {
        data.pipelines.forEach(function (p) { if (!known[p]) { known[p] = 1; add(pipe, el("option", { value: p, text: p })); } });
        box.textContent = "";
        if (!data.runs.length) { add(box, el("p", { "class": "meta", text: data.total ? "no run matches" : "no runs in this workspace yet" })); return data; }
        var rows = data.runs.map(function (r) {
          var pick = el("input", { type: "checkbox", "class": "pick", "data-run": r.run_id });
          if (picked.indexOf(r.run_id) >= 0) pick.checked = true;
          pick.addEventListener("change", function () {
            if (pick.checked) picked.push(r.run_id); else picked = picked.filter(function (x) { return x !== r.run_id; });
            while (picked.length > 2) picked.shift();
            Array.prototype.forEach.call(box.querySelectorAll("input.pick"), function (c) { c.checked = picked.indexOf(c.getAttribute("data-run")) >= 0; });
            if (picked.length === 2) cmp.removeAttribute("disabled"); else cmp.setAttribute("disabled", "disabled");
          });
          var tags = el("input", { "class": "tags", value: r.tags.join(" "), size: 14, "aria-label": "tags of " + r.run_id });
          tags.addEventListener("change", function () {
            api("/api/runs/" + enc(r.run_id) + "/tags", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(tags.value.split(/\s+/).filter(Boolean)) })
              .then(function (res) { tags.value = res.tags.join(" "); tags.classList.remove("error"); })
              .catch(function (e) { tags.classList.add("error"); tags.title = e.message; });
          });
          var link = el("a", { href: "#/run/" + enc(r.run_id), text: r.run_id, "class": "run-link" });
          var trend = el("a", { href: "#/trends/" + enc(r.pipeline), text: r.pipeline });
          var verdict = r.passed === null ? "" : r.passed ? "pass" : "fail";
          var variant = r.variant && groupOf[r.run_id] ? el("a", { href: "#/group/" + enc(groupOf[r.run_id]), text: r.variant, "class": "variant-link" }) : r.variant || "";
          return [pick, link, trend, variant, add(el("span"), badge(r.status), verdict ? " " : "", verdict ? badge(verdict) : null),
            (r.created_at || "").replace("T", " ").slice(0, 19), r.samples, r.errors, headline(r.metrics),
            r.cost_usd === null ? "–" : "$" + num(r.cost_usd, 4), tags];
        });
        add(box, table(["", "run", "pipeline", "variant", "status", "started", "samples", "errors", "headline metrics [95% CI]", "cost", "tags"], rows, [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0]));
        box.querySelector("table").id = "runs";
        return data;
      }).catch(fail);
    }
    [q, pipe, status].forEach(function (c) { c.addEventListener("input", load); });
    groupsLoaded.then(load, load);
    timers.push(setInterval(load, 3000));  // a run started elsewhere appears within seconds
  }

  // ---- one run -------------------------------------------------------------------------
  function runPage(runId) {
    api("/api/runs/" + enc(runId)).then(function (data) {
      var e = data.entry, rep = data.report || {}, man = data.manifest || {};
      var verdict = e.passed === null ? null : e.passed ? "pass" : "fail";
      add(main, el("h1", { text: (rep.title || e.pipeline) + " · " + e.run_id }),
        add(el("p", { id: "run-status" }), badge(e.status), " ",
          verdict ? el("span", { "class": "badge " + verdict, id: "verdict-badge", text: verdict === "pass" ? "PASSED" : "FAILED" }) : null,
          " ", el("a", { href: "#/trends/" + enc(e.pipeline), text: "trend of " + e.pipeline })));
      if (man.description) add(main, el("p", { id: "run-description", text: man.description }));
      if (man.variant && man.group) add(main, el("p", { "class": "meta" }, "variant " + man.variant + " of ", el("a", { href: "#/group/" + enc(man.group), id: "run-group", text: "variant set " + man.group })));
      if (e.status === "running") liveBox(runId);
      var totals = rep.totals || man.counts || {};
      add(main, el("p", { "class": "meta", text: (totals.samples || e.samples) + " samples, " + (totals.errors !== undefined ? totals.errors : e.errors) + " errors" + (rep.cost && typeof rep.cost.total === "number" ? ", $" + num(rep.cost.total, 4) : "") }));
      var metrics = rep.metrics || {};
      if (Object.keys(metrics).length) {
        add(main, el("h2", { text: "Metrics" }), table(["metric", "mean [95% CI]", "pass rate [95% CI]", "passed / failed", "errors"],
          Object.keys(metrics).map(function (k) {
            var m = metrics[k];
            return [k, num(m.mean) + (typeof m.ci_low === "number" ? " [" + num(m.ci_low) + ", " + num(m.ci_high) + "]" : ""),
              m.pass_rate === null || m.pass_rate === undefined ? "–" : pct(m.pass_rate) + " [" + pct(m.pass_ci_low) + ", " + pct(m.pass_ci_high) + "]",
              (m.passed || 0) + " / " + (m.failed || 0), m.errors || 0];
          }), [0, 1, 1, 1, 1]));
        main.lastChild.id = "metrics";
      }
      runDetails(rep);
      var charts = el("div", { "class": "charts", id: "charts" });
      add(main, el("h2", { text: "Charts" }), charts);
      var tags = rep.tags || {}, first = Object.keys(metrics).filter(function (k) { return metrics[k].pass_rate !== null && metrics[k].pass_rate !== undefined; })[0];
      if (first && Object.keys(tags).length) {
        add(charts, barChart("pass rate of " + first + " by tag", Object.keys(tags).filter(function (t) { return tags[t][first]; }).map(function (t) {
          var m = tags[t][first]; return [t, m.pass_rate || 0, pct(m.pass_rate) + " (n=" + m.total + ")"];
        }), 1));
      }
      api("/api/runs/" + enc(runId) + "/distribution?column=latency").then(function (d) {
        add(charts, cdfChart("latency CDF (ms)", [{ name: "this run", q: d.quantiles }], "ms"));
      });
      samplesTable(runId);
    }).catch(fail);
  }
  // the rest of what report.html shows: gates, per-turn metrics, tags, timings, tokens, spend
  function runDetails(rep) {
    var gates = rep.gates || [];
    if (gates.length) {
      var ul = el("ul", { id: "gates" });
      gates.forEach(function (g) {
        add(ul, el("li", { "class": g.passed ? "pass" : "fail", text: (g.passed ? "✓ " : "✗ ") + g.expr + " — actual " + num(g.actual) + (!g.passed && g.message ? " — " + g.message : "") }));
      });
      add(main, el("h2", { text: "Gates" }), ul);
    }
    var turns = rep.turn_metrics || {};
    if (Object.keys(turns).length) {
      add(main, el("h2", { text: "Per-turn metrics" }), table(["metric", "mean", "pass rate", "passed / failed"], Object.keys(turns).map(function (k) {
        var m = turns[k]; return [k, num(m.mean), pct(m.pass_rate), (m.passed || 0) + " / " + (m.failed || 0)];
      }), [0, 1, 1, 1]));
    }
    var tags = rep.tags || {}, names = Object.keys(tags);
    if (names.length) {
      var cols = Object.keys(tags[names[0]] || {});
      add(main, el("h2", { text: "By tag" }), table(["tag"].concat(cols), names.map(function (t) {
        return [t].concat(cols.map(function (c) { var m = tags[t][c]; return m ? (typeof m.pass_rate === "number" ? pct(m.pass_rate) : num(m.mean)) + " (n=" + m.total + ")" : "–"; }));
      }), [0].concat(cols.map(function () { return 1; }))));
      main.lastChild.id = "tags-table";
    }
    var lat = rep.latency || {}, ttft = rep.ttft || {}, tok = rep.tokens || {}, cost = rep.cost || {}, judge = rep.judge_spend;
    var rows = [["latency ms", num(lat.mean), num(lat.p50), num(lat.p95), num(lat.p99), lat.count || 0]];
    if (ttft.count) rows.push(["TTFT ms", num(ttft.mean), num(ttft.p50), num(ttft.p95), num(ttft.p99), ttft.count]);
    add(main, el("h2", { text: "Timings, tokens and cost" }), table(["figure", "mean", "p50", "p95", "p99", "n"], rows, [0, 1, 1, 1, 1, 1]));
    main.lastChild.id = "timings";
    add(main, el("p", { "class": "meta", id: "spend", text: "tokens " + (tok.prompt || 0) + " in / " + (tok.completion || 0) + " out" + (tok.estimated ? " (estimated)" : "") +
      "; bot cost " + (typeof cost.total === "number" ? "$" + num(cost.total, 4) : "unknown") + (cost.unknown ? " (" + cost.unknown + " unpriced)" : "") +
      (judge ? "; judge " + (judge.calls || 0) + " calls" + (typeof judge.cost_usd === "number" ? ", $" + num(judge.cost_usd, 4) : "") : "") }));
  }
  function liveBox(runId) {
    var box = el("div", { "class": "live", id: "live" }, el("strong", { text: "live" }), " ");
    var line = el("span", { id: "live-progress", text: "waiting for events…" });
    add(box, line);
    add(main, box);
    var st = { stage: "", total: 0, done: 0, errors: 0, t0: Date.now(), scored: 0, passed: 0 };
    var src = new EventSource("/api/runs/" + enc(runId) + "/events");
    sources.push(src);
    src.onmessage = function (m) {
      var ev; try { ev = JSON.parse(m.data); } catch (x) { return; }
      var at = Date.parse(ev.ts) || Date.now();  // the event's own time: a replay gives the true rate
      if (ev.event === "StageStarted") { st.stage = ev.stage; st.total = ev.total || 0; st.done = 0; st.t0 = at; }
      else if (ev.event === "ItemFinished") {
        st.done++; if (ev.ok === false) st.errors++;
        if (ev.stage === "evaluate") { st.scored++; if (ev.ok) st.passed++; }
      } else if (ev.event === "RunFinished") { line.textContent = "finished: " + ev.status + " (reload for the report)"; src.close(); return; }
      var rate = st.done / Math.max(0.001, (at - st.t0) / 1000), left = st.total - st.done;
      line.textContent = st.stage + ": " + st.done + " / " + (st.total || "?") + ", " + st.errors + " errors" +
        (st.total && rate > 0 ? ", ETA " + Math.ceil(left / rate) + " s" : "") + (st.scored ? ", scored " + st.scored : "");
    };
    src.addEventListener("end", function () { src.close(); });
  }
  function samplesTable(runId) {
    var state = { offset: 0, limit: 50, status: "", q: "", sort: "position" };
    var bar = el("div", { "class": "bar-row" }), box = el("div", { id: "samples" }), pager = el("div", { "class": "bar-row" });
    var status = el("select", { id: "sample-status" });
    ["", "pass", "fail", "error", "unscored"].forEach(function (s) { add(status, el("option", { value: s, text: s || "any status" })); });
    var sort = el("select", { id: "sample-sort" });
    [["position", "dataset order"], ["latency", "slowest first"], ["cost", "costliest first"], ["id", "by id"]].forEach(function (s) { add(sort, el("option", { value: s[0], text: s[1] })); });
    var q = el("input", { type: "search", id: "sample-search", placeholder: "search id, question, answer, tag" });
    add(bar, status, sort, q);
    add(main, el("h2", { text: "Samples" }), bar, box, pager);
    function load() {
      var qs = "?offset=" + state.offset + "&limit=" + state.limit + "&status=" + enc(state.status) + "&q=" + enc(state.q) + "&sort=" + enc(state.sort);
      api("/api/runs/" + enc(runId) + "/samples" + qs).then(function (page) {
        box.textContent = ""; pager.textContent = "";
        if (!page.ready && !page.rows.length) { add(box, el("p", { "class": "meta", text: "indexing the run…" })); setTimeout(load, 500); return; }
        var t = table(["status", "id", "question", "answer / error", "latency ms", "cost"], page.rows.map(function (r) {
          return [badge(r.status), r.id + (r.repeat ? " #" + r.repeat : ""), r.question, r.error ? "error: " + r.error : (r.answer || ""), num(r.latency_ms), r.cost_usd === null ? "–" : num(r.cost_usd, 5)];
        }), [0, 0, 0, 0, 1, 1]);
        Array.prototype.forEach.call(t.querySelectorAll("tbody tr"), function (tr, i) {
          var r = page.rows[i]; tr.className = "click sample-row"; tr.setAttribute("data-id", r.id);
          tr.addEventListener("click", function () { location.hash = "#/run/" + enc(runId) + "/sample/" + enc(r.id) + "/" + r.repeat; });
        });
        add(box, t);
        var total = page.total;
        add(pager, el("span", { "class": "meta", id: "sample-count", text: total === null ? "first rows (still indexing)" : (state.offset + 1) + "–" + (state.offset + page.rows.length) + " of " + total }));
        if (!page.ready) setTimeout(load, 1000);
        var prev = el("button", { text: "previous", id: "prev-page" }), next = el("button", { text: "next", id: "next-page" });
        if (state.offset === 0) prev.setAttribute("disabled", "disabled");
        if (total === null || state.offset + state.limit >= total) next.setAttribute("disabled", "disabled");
        prev.addEventListener("click", function () { state.offset = Math.max(0, state.offset - state.limit); load(); });
        next.addEventListener("click", function () { state.offset += state.limit; load(); });
        add(pager, prev, next);
      }).catch(function (e) { box.textContent = e.message; });
    }
    status.addEventListener("change", function () { state.status = status.value; state.offset = 0; load(); });
    sort.addEventListener("change", function () { state.sort = sort.value; state.offset = 0; load(); });
    q.addEventListener("input", function () { state.q = q.value; state.offset = 0; load(); });
    load();
  }

  // ---- one sample -----------------------------------------------------------------------
  function words(s) { return (s || "").split(/(\s+)/); }
  function diff(expected, actual) {
    // word-level LCS diff (bounded: long texts are shown side by side instead)
    var a = words(expected), b = words(actual), box = el("div", { "class": "diff" });
    if (a.length * b.length > 250000) return add(box, el("pre", { text: actual }));
    var m = a.length, n = b.length, dp = [];
    for (var i = 0; i <= m; i++) { dp.push(new Array(n + 1).fill(0)); }
    for (i = m - 1; i >= 0; i--) for (var j = n - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    i = 0; j = 0;
    while (i < m || j < n) {
      if (i < m && j < n && a[i] === b[j]) { add(box, a[i]); i++; j++; }
      else if (j < n && (i >= m || dp[i][j + 1] >= dp[i + 1][j])) { add(box, el("ins", { text: b[j] })); j++; }
      else { add(box, el("del", { text: a[i] })); i++; }
    }
    return box;
  }
  function samplePage(runId, sid, rep) {
    api("/api/runs/" + enc(runId) + "/samples/" + enc(sid) + "/" + enc(rep)).then(function (d) {
      var s = d.sample || {}, r = d.record || {}, resp = r.response || {};
      add(main, el("p", null, el("a", { href: "#/run/" + enc(runId), text: "← run " + runId })), el("h1", { text: "Sample " + sid + (Number(rep) ? " #" + rep : "") }));
      var conv = el("div", { id: "conversation" });
      if (s.turns) {
        s.turns.forEach(function (t, k) {
          add(conv, el("div", { "class": "turn" }, el("div", { "class": "role", text: "user" }), el("pre", { text: t.user })));
          var tr = (r.turns || [])[k];
          if (tr && tr.response) add(conv, el("div", { "class": "turn" }, el("div", { "class": "role", text: "assistant" }), el("pre", { text: tr.response.text })));
        });
      } else {
        var msgs = typeof s.input === "string" ? [{ role: "user", content: s.input }] : (s.input || []);
        msgs.forEach(function (m) { add(conv, el("div", { "class": "turn" }, el("div", { "class": "role", text: m.role }), el("pre", { text: m.content }))); });
        if (r.response) add(conv, el("div", { "class": "turn" }, el("div", { "class": "role", text: "assistant" }), el("pre", { "class": "answer", text: resp.text })));
      }
      add(main, el("h2", { text: "Conversation" }), conv);
      if (r.error) add(main, el("h2", { text: "Error" }), el("pre", { "class": "error", id: "error", text: (r.error.kind || "") + ": " + (r.error.message || "") }));
      var expected = Array.isArray(s.expected) ? s.expected[0] : s.expected;
      if (expected && r.response) add(main, el("h2", { text: "Expected vs actual" }), add(el("div", { id: "diff" }), diff(expected, resp.text)));
      add(main, el("h2", { text: "Scores" }), table(["metric", "turn", "value", "verdict", "reason", "details"], (d.scores || []).map(function (sc) {
        var det = sc.details && Object.keys(sc.details).length ? el("pre", { text: JSON.stringify(sc.details, null, 1) }) : "";
        return [sc.metric, sc.turn === null ? "" : sc.turn, num(sc.value), sc.passed === null ? "–" : badge(sc.passed ? "pass" : "fail"), sc.error ? "error: " + sc.error : (sc.reason || ""), det];
      }), [0, 1, 1, 0, 0, 0]));
      main.lastChild.id = "scores";
      var u = r.usage || {};
      add(main, el("h2", { text: "Timings and usage" }), table(["attempts", "latency ms", "TTFT ms", "tokens in / out", "cost", "model", "started", "cached"],
        [[r.attempts, num(r.latency_ms), num(r.ttft_ms), (u.prompt_tokens || 0) + " / " + (u.completion_tokens || 0), r.cost_usd === null || r.cost_usd === undefined ? "–" : "$" + num(r.cost_usd, 5), r.model || "", r.started_at || "", r.cached ? "yes" : "no"]], [1, 1, 1, 1, 1, 0, 0, 0]));
    }).catch(fail);
  }

  // ---- compare -----------------------------------------------------------------------------
  function comparePage(base, cand) {
    add(main, el("h1", { text: "Compare " + base + " → " + cand }));
    api("/api/compare?base=" + enc(base) + "&cand=" + enc(cand) + (location.hash.indexOf("force") > 0 ? "&force=1" : "")).then(function (c) {
      add(main, el("p", { id: "verdict", "class": "badge " + (c.has_regression ? "fail" : "pass"), text: c.has_regression ? "regression: " + (c.regressed_metrics || []).join(", ") : "no significant regression" }));
      (c.differences || []).forEach(function (d) { add(main, el("p", { "class": "error", text: "not like-for-like: " + d })); });
      add(main, el("h2", { text: "Metrics" }), table(["metric", "n", "baseline", "candidate", "Δ mean", "p", "p adj.", "verdict"], c.metrics.map(function (m) {
        return [m.metric, m.n_paired, num(m.baseline_mean), num(m.candidate_mean), num(m.delta), num(m.p_value, 4), num(m.p_adjusted, 4), el("span", { "class": m.verdict, text: m.verdict.replace("_", " ") })];
      }), [0, 1, 1, 1, 1, 1, 1, 0]));
      main.lastChild.id = "compare-metrics";
      var charts = el("div", { "class": "charts" });
      add(main, el("h2", { text: "Latency" }), charts);
      Promise.all([base, cand].map(function (id) { return api("/api/runs/" + enc(id) + "/distribution?column=latency"); })).then(function (ds) {
        add(charts, cdfChart("latency CDF, both runs (ms)", [{ name: "baseline", q: ds[0].quantiles }, { name: "candidate", q: ds[1].quantiles }], "ms"));
      });
      add(main, el("h2", { text: "Flipped samples" }));
      if (!c.flipped.length) add(main, el("p", { "class": "meta", text: "no sample flipped" }));
      else add(main, table(["metric", "flip", "sample", "question", "baseline answered", "candidate answered"], c.flipped.map(function (f) {
        return [f.metric, el("span", { "class": f.flip === "pass_to_fail" ? "regression" : "improvement", text: f.flip === "pass_to_fail" ? "pass → fail" : "fail → pass" }),
          el("a", { href: "#/run/" + enc(cand) + "/sample/" + enc(f.sample_id) + "/0", text: f.sample_id }), el("pre", { text: typeof f.question === "string" ? f.question : JSON.stringify(f.question) }),
          el("pre", { "class": "baseline-answer", text: f.baseline_answer || "" }), el("pre", { "class": "candidate-answer", text: f.candidate_answer || "" })];
      })));
      if (c.flipped.length) main.lastChild.id = "flipped";
    }).catch(function (e) {
      add(main, el("p", { "class": "error", id: "compare-error", text: e.message }), el("a", { href: location.hash.split("?")[0] + "?force", text: "compare anyway (force)" }));
    });
  }

  // ---- a variant set ----------------------------------------------------------------------
  function groupPage(groupId) {
    add(main, el("h1", { text: "Variant set " + groupId }));
    api("/api/groups/" + enc(groupId)).then(function (g) {
      var base = g.baseline || {}, runs = {};
      [base].concat(g.variants || []).forEach(function (v) { runs[v.name] = v.run_id; });
      add(main, add(el("p", { id: "group-verdict", "class": "badge " + (g.regressed.length ? "fail" : "pass") }),
        g.regressed.length ? "regressed against " + base.name + ": " + g.regressed.join(", ") : "no variant regressed against " + base.name));
      add(main, el("p", { "class": "meta" }, "baseline ", el("a", { href: "#/run/" + enc(base.run_id), text: base.name + " (" + base.run_id + ")" })));
      var rows = [];
      (g.variants || []).forEach(function (v) {
        var c = (g.comparisons || {})[v.name];
        if (!c) { rows.push([v.name, "–", "–", "–", "–", "–", "–", el("span", { "class": "regression", text: (g.problems || {})[v.name] || "not compared" })]); return; }
        c.metrics.forEach(function (m) {
          var rate = typeof m.baseline_pass_rate === "number";
          rows.push([el("a", { href: "#/compare/" + enc(base.run_id) + "/" + enc(v.run_id), text: v.name }), m.metric,
            rate ? pct(m.baseline_pass_rate) : num(m.baseline_mean), rate ? pct(m.candidate_pass_rate) : num(m.candidate_mean),
            rate ? (m.pass_rate_delta >= 0 ? "+" : "") + num(100 * m.pass_rate_delta, 1) + " pp" : num(m.delta), num(m.p_adjusted, 4), m.n_paired,
            el("span", { "class": m.verdict, text: m.verdict.replace("_", " ") })]);
        });
      });
      add(main, el("h2", { text: "Every variant vs " + base.name }), table(["variant", "metric", base.name, "variant", "Δ", "p (Holm)", "n", "verdict"], rows, [0, 0, 1, 1, 1, 1, 1, 0]));
      main.lastChild.id = "group-metrics";
      (g.variants || []).forEach(function (v) {
        var flips = (g.flipped || {})[v.name] || [];
        add(main, el("h2", { text: "Flipped samples: " + v.name }));
        if (!flips.length) { add(main, el("p", { "class": "meta", text: "no sample flipped" })); return; }
        add(main, table(["metric", "flip", "sample", "question", base.name + " answered", v.name + " answered"], flips.map(function (f) {
          return [f.metric, el("span", { "class": f.flip === "pass_to_fail" ? "regression" : "improvement", text: f.flip === "pass_to_fail" ? "pass → fail" : "fail → pass" }),
            el("a", { href: "#/run/" + enc(v.run_id) + "/sample/" + enc(f.sample_id) + "/0", text: f.sample_id }), el("pre", { text: f.question }),
            el("pre", { "class": "baseline-answer", text: f.baseline_answer === null ? "(error)" : f.baseline_answer }),
            el("pre", { "class": "variant-answer", text: f.variant_answer === null ? "(error: " + (f.variant_error || "") + ")" : f.variant_answer })];
        })));
        main.lastChild.className = "flipped-group";
      });
    }).catch(fail);
  }

  // ---- trends ----------------------------------------------------------------------------
  function trendsPage(pipeline) {
    add(main, el("h1", { text: "Trends · " + pipeline }));
    api("/api/trends?pipeline=" + enc(pipeline)).then(function (d) {
      var pts = d.points, box = el("div", { "class": "charts", id: "trends" });
      add(main, el("p", { "class": "meta", text: pts.length + " evaluated runs; click a point to open the run" }), box);
      var names = {};
      pts.forEach(function (p) { Object.keys(p.metrics || {}).forEach(function (k) { names[k] = 1; }); });
      function open(p) { location.hash = "#/run/" + enc(p.run_id); }
      Object.keys(names).forEach(function (k) {
        var rate = pts.some(function (p) { return p.metrics[k] && typeof p.metrics[k].pass_rate === "number"; });
        add(box, trendChart(k + (rate ? " pass rate" : " mean") + " with 95% CI", pts,
          function (p) { var m = p.metrics[k]; return m ? (rate ? m.pass_rate : m.mean) : null; },
          function (p) { var m = p.metrics[k] || {}; return rate ? [m.pass_ci_low, m.pass_ci_high] : [m.ci_low, m.ci_high]; }, open));
      });
      add(box, trendChart("latency p95 (ms)", pts, function (p) { return p.latency_p95; }, null, open));
      add(box, trendChart("cost (USD)", pts, function (p) { return p.cost_usd; }, null, open));
    }).catch(fail);
  }

  // ---- routing ----------------------------------------------------------------------------
  function route() {
    timers.forEach(clearInterval); timers = [];
    sources.forEach(function (s) { s.close(); }); sources = [];
    main.textContent = ""; nav.textContent = "";
    add(nav, el("a", { href: "#/", text: "runs" }));
    var parts = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").map(decodeURIComponent);
    if (parts[0] === "run" && parts[2] === "sample") samplePage(parts[1], parts[3], parts[4] || "0");
    else if (parts[0] === "run") runPage(parts[1]);
    else if (parts[0] === "compare") comparePage(parts[1], parts[2]);
    else if (parts[0] === "trends") trendsPage(parts[1]);
    else if (parts[0] === "group") groupPage(parts[1]);
    else runsPage();
  }
  window.addEventListener("hashchange", route);
  route();
})();
