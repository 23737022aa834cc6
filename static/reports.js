/* Reports: the summary table (GET /api/v1/reports/summary), its CSV export, and three charts
   drawn as plain SVG: volumes over time (GET /api/v1/reports/volumes), first-response p50/p90
   and SLA compliance per group. Each part says so when the server lacks its endpoint. */
(function () {
  "use strict";
  var CC = window.CC;
  var el = CC.el;
  var t = CC.t;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var fromInput = document.getElementById("report-from");
  var toInput = document.getElementById("report-to");
  var groupSelect = document.getElementById("report-group");
  var notice = document.getElementById("report-notice");
  var csvLink = document.getElementById("report-csv");
  var names = { queue: {}, agent: {}, tag: {} };
  var LANGUAGE = document.documentElement.lang || "az";
  var CATEGORY_LABELS = { inquiry: t("category.inquiry"), registration: t("category.registration"),
                          support: t("category.support") };
  var GROUP_LABELS = { channel: t("report.group.channel"), queue: t("report.group.queue"),
                       agent: t("report.group.agent"), category: t("report.group.category"),
                       tag: t("report.group.tag") };

  function isoDate(date) {
    var local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 10);
  }
  function setRange(days) {
    var today = new Date();
    toInput.value = isoDate(today);
    fromInput.value = isoDate(new Date(today.getTime() - (days - 1) * 86400000));
  }
  function label(group, key) {
    if (key === null || key === undefined || key === "" || key === "none") return group === "agent" ? t("filter.unassigned") : "—";
    if (group === "channel") return CC.channelLabel(key);
    if (group === "queue") return names.queue[key] || key;
    if (group === "agent") return names.agent[key] || t("agent.numbered", { id: key });
    if (group === "category") return CC.labelOf(CATEGORY_LABELS, key);
    if (group === "tag") return names.tag[key] || String(key);
    return String(key);
  }
  function fmt(seconds) {
    return seconds === null || seconds === undefined ? "–" : CC.duration(seconds);
  }
  function compliance(row) {
    if (!row.conversations) return null;
    return Math.max(0, 1 - (row.sla_breached || 0) / row.conversations);
  }

  // -- SVG
  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      if (typeof child === "string") node.textContent = child; else if (child) node.appendChild(child);
    });
    return node;
  }
  function chartBox(id) {
    var box = document.getElementById(id);
    box.textContent = "";
    return box;
  }
  function empty(id, text) {
    chartBox(id).appendChild(el("p", { className: "chart-empty", text: text }));
  }
  function niceMax(value) {
    if (value <= 0) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function width(id) {
    return Math.max(320, Math.round(document.getElementById(id).clientWidth || 520));
  }

  /* Columns per day, with whole-number ticks. */
  function volumeChart(rows) {
    if (!rows.length) { empty("chart-volumes", t("report.no_conversations")); return; }
    var W = width("chart-volumes"), H = 220, L = 36, R = 8, T = 18, B = 26;
    var top = Math.max.apply(null, rows.map(function (r) { return r.conversations; }));
    var max = top <= 4 ? 4 : niceMax(top);
    var ticks = 4;
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var slot = (W - L - R) / rows.length;
    var barWidth = Math.max(2, Math.min(36, slot * 0.7));
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
                             "aria-label": t("report.per_day") });
    for (var g = 0; g <= ticks; g++) {
      var value = max * g / ticks;
      chart.appendChild(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(value), y2: y(value) }));
      chart.appendChild(svg("text", { x: L - 6, y: y(value) + 4, "text-anchor": "end" }, [CC.number(Math.round(value))]));
    }
    var every = Math.ceil(rows.length / Math.max(1, Math.floor((W - L - R) / 48)));
    rows.forEach(function (r, i) {
      var center = L + slot * (i + 0.5);
      chart.appendChild(svg("rect", { class: "bar", x: center - barWidth / 2, y: y(r.conversations),
                                      width: barWidth, height: Math.max(0, y(0) - y(r.conversations)), rx: 2 },
                            [svg("title", {}, [t("report.day_conversations", { day: dayName(r.period), count: CC.number(r.conversations) })])]));
      if (rows.length <= 14 && r.conversations) {
        chart.appendChild(svg("text", { x: center, y: y(r.conversations) - 4, "text-anchor": "middle" }, [CC.number(r.conversations)]));
      }
      if (i % every === 0) {
        chart.appendChild(svg("text", { x: center, y: H - 8, "text-anchor": "middle" }, [shortDay(r.period)]));
      }
    });
    chartBox("chart-volumes").appendChild(chart);
  }

  function barChart(id, rows, group, series, options) {
    var known = rows.some(function (r) {
      return series.some(function (s) { var v = s.value(r); return v !== null && v !== undefined; });
    });
    if (!known) { empty(id, options.emptyText || t("report.no_data_period")); return; }
    var W = width(id), L = Math.min(170, Math.round(W * 0.35)), R = 56, rowH = series.length * 14 + 14, T = 6;
    var H = T + rows.length * rowH + 20;
    var max = options.max || niceMax(Math.max.apply(null, rows.map(function (r) {
      return Math.max.apply(null, series.map(function (s) { return s.value(r) || 0; }));
    })));
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": options.title });
    rows.forEach(function (r, i) {
      var top = T + i * rowH;
      var name = label(group, r.key);
      chart.appendChild(svg("text", { x: L - 8, y: top + rowH / 2 + 4, "text-anchor": "end" },
                            [name.length > 26 ? name.slice(0, 25) + "…" : name]));
      series.forEach(function (s, j) {
        var value = s.value(r);
        var size = value === null || value === undefined ? 0 : (W - L - R) * Math.min(value, max) / max;
        var barY = top + 7 + j * 14;
        chart.appendChild(svg("rect", { class: s.className(r), x: L, y: barY, width: Math.max(size, value ? 1 : 0), height: 12, rx: 2 },
                              [svg("title", {}, [name + " · " + s.name + ": " + options.format(value)])]));
        chart.appendChild(svg("text", { x: L + size + 4, y: barY + 10 }, [options.format(value)]));
      });
    });
    var box = chartBox(id);
    box.appendChild(chart);
    if (options.legend) box.appendChild(options.legend);
  }

  // -- data
  function params(extra) {
    var query = new URLSearchParams({ from: fromInput.value, to: toInput.value });
    Object.keys(extra || {}).forEach(function (key) { query.set(key, extra[key]); });
    return query.toString();
  }
  function missing(what) {
    notice.textContent = t("report.missing", { what: what });
    notice.hidden = false;
  }

  function renderTable(rows, group, emptyText) {
    var body = document.getElementById("report-rows");
    document.getElementById("report-key-head").textContent = CC.labelOf(GROUP_LABELS, group);
    body.textContent = "";
    if (!rows.length) {
      body.appendChild(el("tr", {}, [el("td", { colSpan: 7, className: "muted", text: emptyText || t("report.no_conversations") })]));
      return;
    }
    rows.forEach(function (r) {
      var met = compliance(r);
      body.appendChild(el("tr", {}, [
        el("td", { text: label(group, r.key) }),
        el("td", { className: "num", text: CC.number(r.conversations) }),
        el("td", { className: "num", text: fmt(r.first_response_p50_s) }),
        el("td", { className: "num", text: fmt(r.first_response_p90_s) }),
        el("td", { className: "num", text: fmt(r.resolution_p50_s) }),
        el("td", { className: "num", text: CC.number(r.sla_breached || 0) }),
        el("td", { className: "num", text: met === null ? "–" : percent(met * 100) })
      ]));
    });
  }

  /* Satisfaction survey answers (GET /api/v1/reports/csat) per the same group. */
  function renderCsat(rows, group) {
    var body = document.getElementById("csat-rows");
    document.getElementById("csat-key-head").textContent = CC.labelOf(GROUP_LABELS, group);
    body.textContent = "";
    if (!rows.length) {
      body.appendChild(el("tr", {}, [el("td", { colSpan: 6, className: "muted", text: t("report.no_surveys") })]));
      return;
    }
    rows.forEach(function (r) {
      body.appendChild(el("tr", {}, [
        el("td", { text: label(group, r.key) }),
        el("td", { className: "num", text: CC.number(r.surveys) }),
        el("td", { className: "num", text: CC.number(r.answered) }),
        el("td", { className: "num", text: percent(r.response_rate * 100) }),
        el("td", { className: "num", text: r.average === null ? "–" : String(r.average) }),
        el("td", { className: "num", text: r.csat === null ? "–" : percent(r.csat * 100) })
      ]));
    });
  }

  /* One row per day of the range: days without conversations count 0. */
  function everyDay(rows) {
    var known = {};
    rows.forEach(function (r) { known[String(r.period).slice(0, 10)] = r; });
    var days = [];
    var day = new Date(fromInput.value + "T12:00:00");
    var last = new Date(toInput.value + "T12:00:00");
    for (var n = 0; day <= last && n < 400; n++) {
      var key = isoDate(day);
      days.push(known[key] || { period: key, conversations: 0 });
      day = new Date(day.getTime() + 86400000);
    }
    return days.length ? days : rows;
  }

  // A day of the range as the user's language writes it (noon: the same day in every zone).
  function longDate(value) {
    return CC.longDate(new Date(value + "T12:00:00+04:00"));
  }
  function shortDay(period) {
    return CC.shortDate(new Date(String(period).slice(0, 10) + "T12:00:00+04:00"));
  }
  function dayName(period) {
    return longDate(String(period).slice(0, 10));
  }
  var PERCENT = new Intl.NumberFormat(CC.locale, { style: "percent", maximumFractionDigits: 0 });
  function percent(value) {
    return PERCENT.format(value / 100);
  }
  /* A range typed backwards is the user's slip, said in the page; nothing is asked of the server. */
  function backwards() {
    if (!fromInput.value || !toInput.value || fromInput.value <= toInput.value) return false;
    var text = t("report.backwards", { from: longDate(fromInput.value), to: longDate(toInput.value) });
    notice.textContent = text;
    notice.hidden = false;
    csvLink.removeAttribute("href");
    csvLink.setAttribute("aria-disabled", "true");
    renderTable([], groupSelect.value, t("report.backwards_table"));
    ["chart-volumes", "chart-first-response", "chart-sla"].forEach(function (id) { empty(id, t("report.no_data")); });
    return true;
  }

  function run() {
    var group = groupSelect.value;
    notice.hidden = true;
    if (backwards()) return;
    csvLink.removeAttribute("aria-disabled");
    csvLink.href = "/api/v1/reports/summary?" + params({ group_by: group, format: "csv" });
    csvLink.setAttribute("download", "summary-" + group + "-" + fromInput.value + "-" + toInput.value + ".csv");
    CC.api("GET", "/api/v1/reports/summary?" + params({ group_by: group })).then(function (result) {
      var rows = Array.isArray(result.data) ? result.data : (result.data.rows || []);
      renderTable(rows, group);
      barChart("chart-first-response", rows, group, [
        { name: "p50", value: function (r) { return r.first_response_p50_s; }, className: function () { return "bar"; } },
        { name: "p90", value: function (r) { return r.first_response_p90_s; }, className: function () { return "bar-p90"; } }
      ], { title: t("report.first_response_chart"), format: fmt,
           emptyText: t("report.no_first_responses"),
           legend: el("div", { className: "legend" }, [
             el("span", {}, [el("i", { className: "p50" }), t("report.median")]),
             el("span", {}, [el("i", { className: "p90" }), t("report.p90")])]) });
      barChart("chart-sla", rows, group, [
        { name: t("report.sla_met"), value: function (r) { var m = compliance(r); return m === null ? null : m * 100; },
          className: function (r) { var m = compliance(r); return m !== null && m < 0.9 ? "bar-bad" : "bar-ok"; } }
      ], { title: t("report.sla_chart"), max: 100,
           format: function (v) { return v === null || v === undefined ? "–" : percent(v); } });
    }, function (error) {
      if (error.status === 404) missing(t("report.summary_report"));
      else if (error.status === 400) { notice.textContent = CC.errorText(error); notice.hidden = false; }
      else CC.fail(error);
      renderTable([], group);
      empty("chart-first-response", t("report.no_data"));
      empty("chart-sla", t("report.no_data"));
    });
    CC.api("GET", "/api/v1/reports/csat?" + params({ group_by: group })).then(function (result) {
      renderCsat(result.data, group);
    }, function (error) {
      renderCsat([], group);
      if (error.status !== 404) CC.fail(error);
    });
    CC.api("GET", "/api/v1/reports/volumes?" + params({ period: "day" })).then(function (result) {
      volumeChart(everyDay(Array.isArray(result.data) ? result.data : (result.data.rows || [])));
    }, function (error) {
      empty("chart-volumes", error.status === 404 ? t("report.volumes_missing")
        : t("report.volumes_failed", { reason: CC.errorText(error) }));
    });
  }

  function loadNames() {
    var queues = CC.api("GET", "/api/v1/queues").then(function (result) {
      result.data.forEach(function (q) { names.queue[q.id] = CC.queueLabel(q); });
    }, function () {});
    var agents = CC.api("GET", "/api/v1/wallboard").then(function (result) {
      (result.data.agents || []).forEach(function (a) { names.agent[a.id] = a.name; });
    }, function () {});
    var tags = CC.api("GET", "/api/v1/tags").then(function (result) {
      (result.data.tags || []).forEach(function (tag) {
        names.tag[tag.id] = tag.label[LANGUAGE] || tag.label.az || tag.id;
      });
    }, function () {});
    return Promise.all([queues, agents, tags]);
  }

  document.getElementById("report-form").addEventListener("submit", function (event) {
    event.preventDefault();
    run();
  });
  groupSelect.addEventListener("change", run);
  document.getElementById("quick-ranges").addEventListener("click", function (event) {
    var button = event.target.closest("button[data-days]");
    if (!button) return;
    setRange(Number(button.dataset.days));
    run();
  });
  setRange(7);
  loadNames().then(run);
})();
