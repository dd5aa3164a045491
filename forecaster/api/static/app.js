// forecaster page: draws each target's actuals, median forecast and forecast band as SVG (no libraries),
// marks the scheduled events of the target's calendar that start inside the chart and lists the later ones.
// It records its own errors into the DOM (#errors, body[data-errors]) and sets body[data-drawn] to the
// number of charts drawn, so a headless browser test can tell "loaded, drawn, no errors".
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var W = 960, H = 280, PAD = { l: 56, r: 12, t: 12, b: 28 };
  var errors = [];

  function recordError(message, logged) {
    errors.push(String(message));
    // Also to the console, where a browser's devtools (and a headless test) look.
    if (!logged) { consoleError.call(console, "forecaster page: " + message); }
    var el = document.getElementById("errors");
    el.hidden = false;
    el.textContent = errors.join("\n");
    document.body.setAttribute("data-errors", String(errors.length));
  }
  window.addEventListener("error", function (e) { recordError(e.message || "script error"); });
  window.addEventListener("unhandledrejection", function (e) {
    recordError("unhandled rejection: " + (e.reason && e.reason.message ? e.reason.message : e.reason));
  });
  var consoleError = console.error;
  console.error = function () {
    recordError(Array.prototype.join.call(arguments, " "), true);
    consoleError.apply(console, arguments);
  };

  function headers() {
    // Auth is usually off for the page; an operator can store a token once with
    // localStorage.setItem("forecasterToken", "...") (never in the URL).
    var token = window.localStorage ? localStorage.getItem("forecasterToken") : null;
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function getJSON(url) {
    return fetch(url, { headers: headers() }).then(function (r) {
      if (r.status === 503) { return r.json().then(function (body) { return { pending: body.error || "not ready" }; }); }
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function pathOf(xs, ys, sx, sy) {
    var d = "", pen = false;
    for (var i = 0; i < xs.length; i++) {
      if (ys[i] === null || ys[i] === undefined) { pen = false; continue; }
      d += (pen ? "L" : "M") + sx(xs[i]).toFixed(1) + "," + sy(ys[i]).toFixed(1);
      pen = true;
    }
    return d;
  }

  function hhmm(t) {
    var d = new Date(t);
    return ("0" + d.getUTCHours()).slice(-2) + ":" + ("0" + d.getUTCMinutes()).slice(-2);
  }

  // "in 7 min" / "in 2 h 05 min", relative to the last actual sample (not the browser's clock).
  function after(t, from) {
    var min = Math.round((t - from) / 60000);
    if (min < 60) { return "in " + min + " min"; }
    return "in " + Math.floor(min / 60) + " h " + ("0" + (min % 60)).slice(-2) + " min";
  }

  // Marks each scheduled event starting inside [t0, t1]: a shaded span until its end (or t1), a line at its
  // start and a label. Returns the number marked.
  function drawEvents(svg, events, t0, t1, sx) {
    var marked = 0;
    (events || []).forEach(function (e) {
      var t = Date.parse(e.start);
      if (!(t >= t0 && t <= t1)) { return; }
      var end = e.end ? Math.min(Date.parse(e.end), t1) : t1;
      var g = el("g", { "class": "event", "data-kind": e.kind, "data-start": e.start }, svg);
      el("rect", { x: sx(t), y: PAD.t, width: Math.max(1, sx(end) - sx(t)), height: H - PAD.t - PAD.b, "class": "event-span" }, g);
      el("line", { x1: sx(t), x2: sx(t), y1: PAD.t, y2: H - PAD.b, "class": "event-start" }, g);
      var right = sx(t) > W - PAD.r - 110;  // near the right edge: the label goes left of the line
      var label = el("text", {
        x: right ? sx(t) - 4 : sx(t) + 4, y: PAD.t + 12 + 13 * (marked % 3),
        "text-anchor": right ? "end" : "start", "class": "event-label"
      }, g);
      label.textContent = e.kind + " " + hhmm(t);
      el("title", {}, g).textContent = "scheduled: " + e.kind + " at " + e.start +
        (e.expected !== null && e.expected !== undefined ? " (expected " + e.expected + ")" : "");
      marked++;
    });
    return marked;
  }

  // Returns the number of points drawn.
  function drawChart(svg, data) {
    var ta = data.actual.timestamps.map(Date.parse), va = data.actual.values;
    var tf = data.forecast.timestamps.map(Date.parse);
    var qs = data.quantiles, lo = data.forecast.values[qs[0]], hi = data.forecast.values[qs[qs.length - 1]];
    var mid = data.forecast.values.p50 || lo;
    var all = va.concat(lo, hi).filter(function (v) { return v !== null; });
    var t0 = ta.length ? ta[0] : tf[0], t1 = tf[tf.length - 1];
    var ymax = Math.max.apply(null, all.concat([1])) * 1.08, ymin = Math.min(0, Math.min.apply(null, all));
    var sx = function (t) { return PAD.l + (t - t0) / Math.max(1, t1 - t0) * (W - PAD.l - PAD.r); };
    var sy = function (v) { return H - PAD.b - (v - ymin) / (ymax - ymin) * (H - PAD.t - PAD.b); };
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    for (var k = 0; k <= 4; k++) {
      var v = ymin + (ymax - ymin) * k / 4, y = sy(v);
      el("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, "class": "grid" }, svg);
      el("text", { x: PAD.l - 6, y: y + 4, "text-anchor": "end" }, svg).textContent = Math.round(v).toString();
    }
    for (var j = 0; j <= 6; j++) {
      var t = t0 + (t1 - t0) * j / 6;
      el("text", { x: sx(t), y: H - 8, "text-anchor": "middle" }, svg).textContent = hhmm(t);
    }
    if (qs.length > 1) {
      var band = "";
      for (var i = 0; i < tf.length; i++) { band += (i ? "L" : "M") + sx(tf[i]).toFixed(1) + "," + sy(hi[i]).toFixed(1); }
      for (var m = tf.length - 1; m >= 0; m--) { band += "L" + sx(tf[m]).toFixed(1) + "," + sy(lo[m]).toFixed(1); }
      el("path", { d: band + "Z", "class": "band" }, svg);
    }
    el("path", { d: pathOf(ta, va, sx, sy), "class": "actual" }, svg);
    el("path", { d: pathOf(tf, mid, sx, sy), "class": "p50" }, svg);
    if (ta.length) {
      var xn = sx(ta[ta.length - 1]);
      el("line", { x1: xn, x2: xn, y1: PAD.t, y2: H - PAD.b, "class": "now" }, svg);
    }
    svg.setAttribute("data-events", String(drawEvents(svg, data.events, t0, t1, sx)));
    return ta.length + tf.length;
  }

  function section(target) {
    var id = "target-" + target.name;
    var node = document.getElementById(id);
    if (!node) {
      node = document.createElement("section");
      node.id = id;
      node.className = "target";
      document.getElementById("targets").appendChild(node);
    }
    return node;
  }

  // The calendar's upcoming events (the next 24 hours) under the chart; those inside it are marked there.
  function listEvents(node, data) {
    var events = data.events || [];
    if (!events.length) { return; }
    var ta = data.actual.timestamps, tf = data.forecast.timestamps;
    var from = Date.parse(ta.length ? ta[ta.length - 1] : tf[0]), t1 = Date.parse(tf[tf.length - 1]);
    var p = document.createElement("p");
    p.className = "events";
    p.textContent = "Scheduled: ";
    events.forEach(function (e, i) {
      var t = Date.parse(e.start);
      var span = document.createElement("span");
      span.className = t <= t1 ? "event on-chart" : "event";
      span.setAttribute("data-kind", e.kind);
      span.textContent = (i ? ", " : "") + e.kind + " at " + hhmm(t) + " UTC (" + after(t, from) + ")" +
        (e.expected !== null && e.expected !== undefined ? ", expected " + e.expected : "");
      p.appendChild(span);
    });
    node.appendChild(p);
  }

  function render(target, data) {
    var node = section(target);
    node.textContent = "";
    var h = document.createElement("h2");
    h.textContent = target.name + (target.description ? " — " + target.description : "");
    node.appendChild(h);
    var meta = document.createElement("p");
    meta.className = "meta";
    if (data.pending) {
      meta.textContent = "No forecast yet: " + data.pending;
      node.appendChild(meta);
      return 0;
    }
    var model = data.model;
    meta.textContent = "model " + model.name + (model.version ? " " + model.version : "") +
      " · computed " + data.generated_at + " (" + Math.round(data.age_s) + " s ago) · quantiles " + data.quantiles.join(", ");
    [[data.stale, "stale", "stale: " + data.stale_reason], [model.fallback, "fallback", "baseline: " + (model.note || "")]]
      .forEach(function (flag) {
        if (!flag[0]) { return; }
        var span = document.createElement("span");
        span.className = flag[1];
        span.textContent = " · " + flag[2];
        meta.appendChild(span);
      });
    node.appendChild(meta);
    var svg = el("svg", { "class": "chart", role: "img", "aria-label": "forecast for " + target.name });
    node.appendChild(svg);
    var points = drawChart(svg, data);
    svg.setAttribute("data-points", String(points));
    listEvents(node, data);
    return points;
  }

  function load() {
    return getJSON("/v1/targets").then(function (list) {
      var status = document.getElementById("status");
      if (status) { status.remove(); }
      return Promise.all(list.targets.map(function (target) {
        var url = "/v1/targets/" + encodeURIComponent(target.name) + "/forecast?history=6h";
        return getJSON(url).then(function (data) { return render(target, data) > 0 ? 1 : 0; });
      }));
    }).then(function (drawn) {
      var n = drawn.reduce(function (a, b) { return a + b; }, 0);
      document.body.setAttribute("data-drawn", String(n));
      return n;
    });
  }

  function cycle() {
    load().then(function (n) {
      setTimeout(cycle, n ? 30000 : 3000);
    }, function (err) {
      recordError(err && err.message ? err.message : err);
      setTimeout(cycle, 10000);
    });
  }
  cycle();
})();
