(function () {
  "use strict";
  // Every value from the data is untrusted: it is only ever put into the page with textContent,
  // attribute values or SVG text nodes; no HTML parsing of data happens anywhere.
  var DATA = JSON.parse(document.getElementById("data").textContent);
  var S = DATA.summary || {};
  var METRICS = DATA.metrics || [];
  var ROWS = DATA.rows || [];
  ROWS.sort(function (a, b) { return a.o - b.o || (a.k || 0) - (b.k || 0); });  // rows arrive in completion order
  var ROW_H = 30, OVERSCAN = 8, MAX_COLS = 6, CELL_CHARS = 160;
  var SVGNS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
  function num(v, d) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "–";
    if (d === undefined) d = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 3;
    return v.toFixed(d);
  }
  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%"; }
  function money(v) { return v === null || v === undefined ? "unknown" : "$" + (v < 0.01 && v > 0 ? v.toFixed(6) : v.toFixed(4)); }
  function short(s, n) { s = s === null || s === undefined ? "" : String(s); s = s.replace(/\s+/g, " "); return s.length > n ? s.slice(0, n - 1) + "…" : s; }
  function rowId(r) { return r.k ? r.i + " #" + r.k : r.i; }
  function cardsOf(pairs) {
    var box = el("div", { "class": "cards" });
    pairs.forEach(function (p) { add(box, add(el("div", { "class": "card" }), el("div", { "class": "k" }, p[0]), el("div", { "class": "v" }, p[1]))); });
    return box;
  }
  function table(head, rows, numeric) {
    var t = el("table", { "class": "grid" }), tr = el("tr");
    head.forEach(function (h, i) { add(tr, el("th", numeric && numeric[i] ? { "class": "num" } : null, h)); });
    add(t, add(el("thead"), tr));
    var tb = el("tbody");
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c, i) {
        var td = el("td", numeric && numeric[i] ? { "class": "num" } : null);
        if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
        add(row, td);
      });
      add(tb, row);
    });
    return add(t, tb);
  }

  // ---- summary header -------------------------------------------------------------------
  function renderSummary() {
    var totals = S.totals || {}, passed = S.passed !== false;
    var line = document.getElementById("status-line");
    add(line, el("span", { "class": "badge " + (passed ? "pass" : "fail") }, passed ? "PASSED" : "FAILED"), document.createTextNode(" "));
    add(line, el("span", { "class": "meta" }, ["run " + (S.run_id || "–"), "pipeline " + (S.pipeline || "–"), "generated " + (S.generated_at || "–")].join(" · ")));
    var box = document.getElementById("summary");
    add(box, el("h2", null, "Summary"));
    var tokens = S.tokens || {}, cost = S.cost || {};
    var cards = [
      ["samples", totals.samples], ["records", totals.records], ["ok", totals.ok], ["errors", totals.errors],
      ["missing", totals.missing || 0],
      ["tokens" + (tokens.estimated ? " (estimated)" : ""), tokens.total === null || tokens.total === undefined ? "–" : tokens.total],
      ["cost" + (cost.unknown ? " (" + cost.unknown + " unpriced)" : ""), money(cost.total)]
    ];
    var judge = S.judge_spend;  // the judge's own calls, apart from the bot's
    if (judge) {
      cards.push(["judge calls" + (judge.cached ? " (" + judge.cached + " cached)" : ""), judge.calls]);
      cards.push(["judge cost", money(judge.cost_usd)]);
    }
    add(box, cardsOf(cards));
    var kinds = totals.errors_by_kind || {};
    var kindText = Object.keys(kinds).map(function (k) { return k + ": " + kinds[k]; }).join(", ");
    if (kindText) add(box, el("p", { "class": "err" }, "Errors by kind — " + kindText));
    var mrows = [], repeats = (totals.repeats || 1) > 1;
    [["", S.metrics || {}], ["per turn: ", S.turn_metrics || {}]].forEach(function (pair) {
      Object.keys(pair[1]).forEach(function (name) {
        var m = pair[1][name];
        var row = [pair[0] + name,
          num(m.mean) + (m.ci_low !== null && m.ci_low !== undefined ? " [" + num(m.ci_low) + ", " + num(m.ci_high) + "]" : ""),
          pct(m.pass_rate) + (m.pass_ci_low !== null && m.pass_ci_low !== undefined ? " [" + pct(m.pass_ci_low) + ", " + pct(m.pass_ci_high) + "]" : ""),
          m.passed + " / " + m.failed, "scored " + m.scored + " of " + m.total, m.errors, m.unstable];
        if (repeats) row.push(m.flaky === null || m.flaky === undefined ? "–" : m.flaky + " (" + pct(m.flip_rate) + ")");
        mrows.push(row);
      });
    });
    add(box, el("h3", null, "Metrics"));
    if (repeats) add(box, el("p", { "class": "meta" }, totals.repeats + " repeats per sample: statistics are over samples (passed / failed count samples); flaky = samples whose repeats disagree"));
    var heads = ["metric", "mean [95% CI]", "pass rate [95% CI]", "passed / failed", "scored", "errors", "unstable"], numeric = [0, 1, 1, 1, 0, 1, 1];
    if (repeats) { heads.push("flaky (flip rate)"); numeric.push(1); }
    var mt = table(heads, mrows, numeric);
    mt.id = "metrics-table";
    add(box, mt);
    var gates = S.gates || [];
    if (gates.length) {
      add(box, el("h3", null, "Gates"));
      var ul = el("ul", { id: "gates" });
      gates.forEach(function (g) {
        add(ul, add(el("li", { "class": g.passed ? "pass" : "fail" }, (g.passed ? "✓ " : "✗ ") + g.expr + " — actual " + num(g.actual) + (!g.passed && g.message ? " — " + g.message : ""))));
      });
      add(box, ul);
    }
    var tags = S.tags || {}, tagNames = Object.keys(tags);
    if (tagNames.length) {
      var tagMetrics = Object.keys(S.metrics || {});
      var trows = tagNames.map(function (t) {
        return [t].concat(tagMetrics.map(function (m) {
          var x = tags[t][m];
          return x ? pct(x.pass_rate) + " (" + x.scored + "/" + x.total + ")" : "";
        }));
      });
      add(box, el("h3", null, "Pass rate by tag"));
      var tt = table(["tag"].concat(tagMetrics), trows, [0].concat(tagMetrics.map(function () { return 1; })));
      tt.id = "tags-table";
      add(box, tt);
    }
    add(box, el("h3", null, "Latency (ms)"));
    var lt = [];
    [["latency", S.latency || {}], ["time to first token", S.ttft || {}]].forEach(function (p) {
      var d = p[1];
      lt.push([p[0], num(d.mean, 1), num(d.p50, 1), num(d.p95, 1), num(d.p99, 1), d.count || 0]);
    });
    var latT = table(["", "mean", "p50", "p95", "p99", "count"], lt, [0, 1, 1, 1, 1, 1]);
    latT.id = "latency-table";
    add(box, latT);
  }

  // ---- charts (inline SVG) ----------------------------------------------------------------
  function ticks(lo, hi, n) { var out = []; for (var i = 0; i <= n; i++) out.push(lo + (hi - lo) * i / n); return out; }
  function axes(s, x0, y0, x1, y1, xt, yt, xname, yname) {
    add(s, svg("line", { "class": "axis", x1: x0, y1: y1, x2: x1, y2: y1 }), svg("line", { "class": "axis", x1: x0, y1: y0, x2: x0, y2: y1 }));
    xt.forEach(function (t) { add(s, svg("text", { x: t[0], y: y1 + 12, "text-anchor": "middle" }, t[1])); });
    yt.forEach(function (t) { add(s, svg("text", { x: x0 - 4, y: t[0] + 3, "text-anchor": "end" }, t[1])); });
    if (xname) add(s, svg("text", { x: (x0 + x1) / 2, y: y1 + 26, "text-anchor": "middle", "class": "axis-name" }, xname));
    if (yname) add(s, svg("text", { x: 2, y: y0 - 6, "class": "axis-name" }, yname));
  }
  function histogram(title, values, xname) {
    var fig = el("figure", { "class": "chart histogram" });
    var W = 380, H = 190, L = 40, R = 22, T = 18, B = 34;
    var BINS = Math.min(20, Math.max(5, Math.ceil(Math.sqrt(values.length))));
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v < lo) lo = v; if (v > hi) hi = v; });
    if (lo >= 0 && hi <= 1) { lo = 0; hi = 1; BINS = 10; }
    if (hi === lo) hi = lo + 1;
    var counts = new Array(BINS).fill(0);
    values.forEach(function (v) { var b = Math.floor((v - lo) / (hi - lo) * BINS); counts[Math.min(BINS - 1, Math.max(0, b))]++; });
    var top = Math.max.apply(null, counts.concat([1]));
    var s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
    var bw = (W - L - R) / BINS;
    counts.forEach(function (c, i) {
      var h = (H - T - B) * c / top;
      var r = svg("rect", { "class": "bar", x: L + i * bw + 1, y: H - B - h, width: Math.max(1, bw - 2), height: h });
      add(r, svg("title", {}, c + " in [" + num(lo + i * (hi - lo) / BINS) + ", " + num(lo + (i + 1) * (hi - lo) / BINS) + ")"));
      add(s, r);
    });
    axes(s, L, T, W - R, H - B, ticks(lo, hi, 4).map(function (v) { return [L + (W - L - R) * (v - lo) / (hi - lo), num(v)]; }),
      ticks(0, top, Math.min(4, top)).map(function (v) { return [H - B - (H - T - B) * v / top, String(Math.round(v))]; }), xname, "samples");
    return add(fig, s, el("figcaption", null, title + " (n=" + values.length + ")"));
  }
  function cdf(title, values, xname) {
    var fig = el("figure", { "class": "chart cdf" });
    var W = 380, H = 190, L = 40, R = 22, T = 18, B = 34;
    var v = values.slice().sort(function (a, b) { return a - b; }), n = v.length;
    var lo = v[0], hi = v[n - 1]; if (hi === lo) hi = lo + 1;
    var s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
    function X(x) { return L + (W - L - R) * (x - lo) / (hi - lo); }
    function Y(p) { return H - B - (H - T - B) * p; }
    var step = Math.max(1, Math.floor(n / 200)), pts = [];
    for (var i = 0; i < n; i += step) pts.push(X(v[i]) + "," + Y((i + 1) / n));
    pts.push(X(v[n - 1]) + "," + Y(1));
    add(s, svg("polyline", { "class": "line", points: pts.join(" ") }));
    [0.5, 0.95].forEach(function (q) {
      var x = v[Math.min(n - 1, Math.ceil(q * n) - 1)];
      add(s, svg("line", { "class": "guide", x1: X(x), y1: Y(0), x2: X(x), y2: Y(q) }), svg("text", { x: X(x) + 3, y: Y(q) - 3 }, "p" + Math.round(q * 100) + " " + num(x)));
    });
    axes(s, L, T, W - R, H - B, ticks(lo, hi, 4).map(function (x) { return [X(x), num(x)]; }),
      [0, 0.5, 1].map(function (p) { return [Y(p), Math.round(p * 100) + "%"]; }), xname, "share ≤ x");
    return add(fig, s, el("figcaption", null, title + " (n=" + n + ")"));
  }
  function tagBars(metric) {
    var tags = S.tags || {}, names = Object.keys(tags).filter(function (t) { return tags[t] && tags[t][metric] && typeof tags[t][metric].pass_rate === "number"; });
    if (!names.length) return null;
    names.sort(function (a, b) { return tags[a][metric].pass_rate - tags[b][metric].pass_rate; });
    var rowH = 18, W = 420, L = 140, R = 70, T = 8, B = 30, H = T + B + rowH * names.length;
    var fig = el("figure", { "class": "chart bars" });
    var s = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "pass rate of " + metric + " by tag" });
    names.forEach(function (t, i) {
      var m = tags[t][metric], y = T + i * rowH, w = (W - L - R) * m.pass_rate;
      var label = t.length > 20 ? t.slice(0, 19) + "…" : t;
      add(s, svg("text", { x: L - 6, y: y + 12, "text-anchor": "end" }, label));
      var r = svg("rect", { "class": "bar", x: L, y: y + 2, width: Math.max(1, w), height: rowH - 5 });
      add(r, svg("title", {}, t + ": " + (100 * m.pass_rate).toFixed(1) + "% of " + m.total));
      add(s, r, svg("text", { x: L + w + 4, y: y + 12 }, (100 * m.pass_rate).toFixed(0) + "% (n=" + m.total + ")"));
    });
    axes(s, L, T, W - R, H - B, [0, 0.25, 0.5, 0.75, 1].map(function (p) { return [L + (W - L - R) * p, Math.round(p * 100) + "%"]; }), [], "pass rate", "");
    return add(fig, s, el("figcaption", null, "pass rate of " + metric + " by tag"));
  }
  function renderCharts() {
    var box = document.getElementById("charts"), perMetric = METRICS.map(function () { return []; }), lat = [];
    var sameAsLatency = METRICS.map(function () { return true; });
    ROWS.forEach(function (r) {
      if (typeof r.l === "number") lat.push(r.l);
      (r.s || []).forEach(function (sc) {
        if (sc[1] === null && typeof sc[2] === "number") {
          perMetric[sc[0]].push(sc[2]);
          if (typeof r.l !== "number" || Math.abs(sc[2] - r.l) > 1e-6) sameAsLatency[sc[0]] = false;
        }
      });
    });
    var rated = Object.keys(S.metrics || {}).filter(function (k) { return typeof (S.metrics[k] || {}).pass_rate === "number"; });
    if (rated.length) add(box, tagBars(rated[0]));
    if (lat.length) add(box, cdf("latency CDF", lat, "latency (ms)"));
    METRICS.forEach(function (m, i) {
      var vals = perMetric[i];
      if (!vals.length || sameAsLatency[i]) return;  // a latency metric restates the CDF above
      if (vals.every(function (v) { return v === 0 || v === 1; })) return;  // pass/fail: its pass rate says it all
      add(box, histogram("score distribution: " + m, vals, "score"));
    });
  }

  // ---- samples table with filters, search, sort and virtual scrolling --------------------------
  var COLS = [
    { key: "st", label: "status", w: "80px", get: function (r) { return r.st; } },
    { key: "id", label: "id", w: "minmax(90px,1fr)", get: function (r) { return rowId(r); } },
    { key: "tags", label: "tags", w: "minmax(60px,0.6fr)", get: function (r) { return (r.g || []).join(", "); } },
    { key: "q", label: "input", w: "minmax(120px,2fr)", get: function (r) { return short(r.q, CELL_CHARS); } },
    { key: "a", label: "answer", w: "minmax(120px,2fr)", get: function (r) { return short(r.a !== undefined ? r.a : r.x, CELL_CHARS); } }
  ];
  var topMetrics = Object.keys(S.metrics || {}).slice(0, MAX_COLS);
  topMetrics.forEach(function (name) {
    var idx = METRICS.indexOf(name);
    COLS.push({ key: "m" + idx, label: name, w: "minmax(64px,0.5fr)", metric: idx, num: true,
      get: function (r) { var sc = wholeScore(r, idx); return sc ? (sc[5] !== null && sc[5] !== undefined ? "err" : num(sc[2])) : ""; },
      sortVal: function (r) { var sc = wholeScore(r, idx); return sc && typeof sc[2] === "number" ? sc[2] : null; } });
  });
  COLS.push({ key: "l", label: "latency ms", w: "90px", num: true, get: function (r) { return num(r.l, 0); }, sortVal: function (r) { return r.l === undefined ? null : r.l; } });
  COLS.push({ key: "t", label: "tokens", w: "70px", num: true, get: function (r) { return r.t === undefined ? "" : r.t; }, sortVal: function (r) { return r.t === undefined ? null : r.t; } });
  COLS.push({ key: "$", label: "cost", w: "80px", num: true, get: function (r) { return r.$ === undefined ? "" : money(r.$); }, sortVal: function (r) { return r.$ === undefined ? null : r.$; } });
  var TEMPLATE = COLS.map(function (c) { return c.w; }).join(" ");
  var STATUS_ORDER = { error: 0, fail: 1, missing: 2, pass: 3 };

  function wholeScore(r, idx) {
    var s = r.s || [];
    for (var i = 0; i < s.length; i++) if (s[i][0] === idx && s[i][1] === null) return s[i];
    return null;
  }

  var state = { status: "", tag: "", metric: -1, query: "", sort: null, dir: 1, view: [] };
  var viewport = document.getElementById("viewport"), spacer = document.getElementById("spacer"), rowsBox = document.getElementById("rows");

  function haystack(r) {
    if (r._h === undefined) {
      r._h = [r.i, (r.g || []).join(" "), r.q, r.a, (r.e || []).join(" "), r.x].join("\n").toLowerCase();
    }
    return r._h;
  }
  function scoreStatus(sc) {
    if (!sc) return "";
    if (sc[5] !== null && sc[5] !== undefined) return "error";
    return sc[3] === 1 ? "pass" : sc[3] === 0 ? "fail" : "";
  }
  function matches(r) {
    if (state.tag && (r.g || []).indexOf(state.tag) < 0) return false;
    if (state.metric >= 0) {
      var sc = wholeScore(r, state.metric);
      if (!sc) return false;
      if (state.status && scoreStatus(sc) !== state.status && !(state.status === "error" && r.st === "error")) return false;
    } else if (state.status && r.st !== state.status) return false;
    if (state.query && haystack(r).indexOf(state.query) < 0) return false;
    return true;
  }
  function applyView() {
    var view = [];
    for (var i = 0; i < ROWS.length; i++) if (matches(ROWS[i])) view.push(i);
    if (state.sort) {
      var col = state.sort, dir = state.dir;
      var val = col.sortVal || (col.key === "st" ? function (r) { return STATUS_ORDER[r.st]; } : col.get);
      view.sort(function (a, b) {
        var x = val(ROWS[a]), y = val(ROWS[b]);
        if (x === null || x === undefined || x === "") return (y === null || y === undefined || y === "") ? a - b : 1;
        if (y === null || y === undefined || y === "") return -1;
        if (x < y) return -dir;
        if (x > y) return dir;
        return a - b;
      });
    }
    state.view = view;
    document.getElementById("count").textContent = "showing " + view.length + " of " + ROWS.length;
    spacer.style.height = (view.length * ROW_H) + "px";
    viewport.scrollTop = 0;
    renderRows();
  }
  var pendingFrame = false;
  function renderRows() {
    pendingFrame = false;
    var first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - OVERSCAN);
    var count = Math.ceil((viewport.clientHeight || 480) / ROW_H) + 2 * OVERSCAN;
    var last = Math.min(state.view.length, first + count);
    var frag = document.createDocumentFragment();
    for (var p = first; p < last; p++) {
      var idx = state.view[p], r = ROWS[idx];
      var row = el("div", { "class": "row", role: "row", tabindex: "0", "data-index": String(idx), "data-id": r.i });
      row.style.gridTemplateColumns = TEMPLATE;
      COLS.forEach(function (c) {
        var cell = el("div", { "class": "cell" + (c.num ? " num" : ""), role: "cell" });
        if (c.key === "st") cell.appendChild(el("span", { "class": "badge " + r.st }, r.st));
        else {
          var text = String(c.get(r));
          cell.textContent = text;
          if (c.metric !== undefined) { var sc = wholeScore(r, c.metric); var ss = scoreStatus(sc); if (ss) cell.className += " " + (ss === "error" ? "err" : ss); }
          if (text.length > 20) cell.setAttribute("title", text);
        }
        row.appendChild(cell);
      });
      frag.appendChild(row);
    }
    rowsBox.style.transform = "translateY(" + (first * ROW_H) + "px)";
    rowsBox.replaceChildren(frag);
  }
  function renderHead() {
    var head = document.getElementById("thead");
    head.style.gridTemplateColumns = TEMPLATE;
    COLS.forEach(function (c) {
      var b = el("button", { type: "button", "class": "sort", "data-key": c.key, role: "columnheader", title: "sort by " + c.label }, c.label);
      b.addEventListener("click", function () {
        if (state.sort === c) state.dir = -state.dir; else { state.sort = c; state.dir = 1; }
        Array.prototype.forEach.call(head.querySelectorAll("button"), function (x) { x.removeAttribute("aria-sort"); });
        b.setAttribute("aria-sort", state.dir === 1 ? "ascending" : "descending");
        applyView();
      });
      head.appendChild(add(el("div", { "class": "cell" }), b));
    });
  }
  function renderControls() {
    var tags = {};
    ROWS.forEach(function (r) { (r.g || []).forEach(function (t) { tags[t] = 1; }); });
    var tagSel = document.getElementById("tag-filter");
    Object.keys(tags).sort().forEach(function (t) { tagSel.appendChild(el("option", { value: t }, t)); });
    var mSel = document.getElementById("metric-filter");
    METRICS.forEach(function (m, i) { mSel.appendChild(el("option", { value: String(i) }, m)); });
    document.getElementById("status-filter").addEventListener("change", function (e) { state.status = e.target.value; applyView(); });
    tagSel.addEventListener("change", function (e) { state.tag = e.target.value; applyView(); });
    mSel.addEventListener("change", function (e) { state.metric = e.target.value === "" ? -1 : Number(e.target.value); applyView(); });
    var timer = null;
    document.getElementById("search").addEventListener("input", function (e) {
      var q = e.target.value.trim().toLowerCase();
      if (timer) clearTimeout(timer);
      timer = setTimeout(function () { state.query = q; applyView(); }, ROWS.length > 5000 ? 150 : 0);
    });
    viewport.addEventListener("scroll", function () { if (!pendingFrame) { pendingFrame = true; requestAnimationFrame(renderRows); } });
    rowsBox.addEventListener("click", function (e) {
      var row = e.target.closest ? e.target.closest(".row") : null;
      if (row) openDetail(Number(row.getAttribute("data-index")));
    });
    rowsBox.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target.classList.contains("row")) openDetail(Number(e.target.getAttribute("data-index")));
    });
    document.getElementById("detail-close").addEventListener("click", closeDetail);
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeDetail(); });
  }

  // ---- detail view ----------------------------------------------------------------------
  // Words keep their trailing whitespace and are compared without it, so a diff reads as
  // whole phrases ("wrong reply") instead of words split by matching spaces.
  function tokenize(s) { return String(s).match(/\s+$|\s*\S+\s*/g) || []; }
  function wordDiff(a, b) {
    var x = tokenize(a), y = tokenize(b), n = x.length, m = y.length, out = [];
    if (n * m > 4000000) return null;
    var xk = x.map(function (t) { return t.trim(); }), yk = y.map(function (t) { return t.trim(); });
    var w = m + 1, L = new Uint32Array((n + 1) * w);
    for (var i = n - 1; i >= 0; i--) for (var j = m - 1; j >= 0; j--)
      L[i * w + j] = xk[i] === yk[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    i = 0; j = 0;
    function push(kind, t) { if (out.length && out[out.length - 1][0] === kind) out[out.length - 1][1] += t; else out.push([kind, t]); }
    while (i < n && j < m) {
      if (xk[i] === yk[j]) { push("=", y[j]); i++; j++; }
      else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) { push("-", x[i]); i++; }
      else { push("+", y[j]); j++; }
    }
    while (i < n) push("-", x[i++]);
    while (j < m) push("+", y[j++]);
    return out;
  }
  function diffBlock(expected, actual) {
    var box = el("div", { "class": "diff text" }), parts = wordDiff(expected, actual);
    if (!parts) return add(box, el("span", null, "(texts too long for a word diff)"));
    parts.forEach(function (p) { box.appendChild(p[0] === "=" ? document.createTextNode(p[1]) : el(p[0] === "-" ? "del" : "ins", null, p[1])); });
    return box;
  }
  function expectedVsActual(box, expected, actual, label) {
    if (!expected || !expected.length) return;
    add(box, el("h3", null, label));
    var legend = el("p", { "class": "meta" }, "word diff of expected → actual: ");
    add(legend, el("del", null, "only in expected"), document.createTextNode(" "), el("ins", null, "only in the answer"));
    add(box, legend);
    expected.slice(0, 5).forEach(function (e, i) {
      if (expected.length > 1) add(box, el("div", { "class": "meta" }, "expected #" + (i + 1)));
      add(box, diffBlock(e, actual === undefined || actual === null ? "" : actual));
    });
  }
  function message(role, text, cls) {
    return add(el("div", { "class": "msg " + (cls || role) }), el("div", { "class": "role" }, role), el("div", { "class": "text" }, text));
  }
  function renderDetails(details) {
    var box = el("div");
    if (Array.isArray(details.votes)) {
      var ul = el("ul", { "class": "votes" });
      details.votes.forEach(function (v, i) {
        var t;
        if (v && typeof v === "object" && ("score" in v || "error" in v)) {
          t = v.error ? "error: " + v.error : "score " + num(v.score) + (v.reason ? " — " + v.reason : "");
        } else t = typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
        add(ul, el("li", null, "vote " + (i + 1) + ": " + t));
      });
      add(box, el("div", { "class": "meta" }, "judge votes"), ul);
    }
    var flags = [];
    if (details.agreement !== undefined) flags.push("agreement " + (typeof details.agreement === "number" ? num(details.agreement) : String(details.agreement)));
    if (details.unstable) add(box, el("span", { "class": "badge unstable" }, "unstable"));
    if (flags.length) add(box, el("div", { "class": "meta" }, flags.join(" · ")));
    var rest = {}, any = false;
    Object.keys(details).forEach(function (k) { if (k !== "votes" && k !== "agreement" && k !== "unstable") { rest[k] = details[k]; any = true; } });
    if (any) add(box, el("pre", { "class": "details" }, JSON.stringify(rest, null, 2)));
    return box;
  }
  function openDetail(idx) {
    var r = ROWS[idx];
    if (!r) return;
    var panel = document.getElementById("detail"), body = document.getElementById("detail-body");
    document.getElementById("detail-title").textContent = rowId(r);
    body.replaceChildren();
    var head = add(el("p"), el("span", { "class": "badge " + r.st }, r.st));
    if (r.g && r.g.length) add(head, document.createTextNode(" tags: " + r.g.join(", ")));
    add(body, head);
    add(body, cardsOf([["latency ms", num(r.l, 1)], ["TTFT ms", num(r.f, 1)], ["tokens", r.t === undefined ? "–" : r.t],
      ["cost", r.$ === undefined ? "unknown" : money(r.$)], ["attempts", r.n || 1], ["model", r.m || "–"], ["cached", r.ca ? "yes" : "no"]]));
    if (r.x) add(body, el("h3", null, "Error"), message("error", r.x, "error"));
    add(body, el("h3", null, "Conversation"));
    var conv = el("div", { id: "conversation" });
    (r.c || []).forEach(function (m) {
      add(conv, message(m[0], m[1], m[0] === "error" ? "error" : m[0]));
      if (m[2] && m[2].length) expectedVsActual(conv, m[2], m[0] === "assistant" ? m[1] : "", "Expected vs actual (this turn)");
    });
    add(body, conv);
    expectedVsActual(body, r.e, r.a, "Expected vs actual");
    add(body, el("h3", null, "Scores"));
    var srows = (r.s || []).map(function (sc) {
      var verdict = sc[5] ? "error" : sc[3] === 1 ? "pass" : sc[3] === 0 ? "fail" : "–";
      return [METRICS[sc[0]], sc[1] === null ? "whole" : "turn " + (sc[1] + 1), num(sc[2]), el("span", { "class": verdict === "error" ? "err" : verdict }, verdict),
        sc[5] ? sc[5] : sc[4] || "", sc[6] ? renderDetails(sc[6]) : ""];
    });
    var st = table(["metric", "turn", "value", "verdict", "reason / error", "details"], srows, [0, 0, 1, 0, 0, 0]);
    st.id = "scores-table";
    add(body, st);
    panel.hidden = false;
    document.getElementById("detail-close").focus();
  }
  function closeDetail() { document.getElementById("detail").hidden = true; }

  renderSummary();
  renderCharts();
  renderHead();
  renderControls();
  applyView();
  document.body.setAttribute("data-ready", "1");
})();
