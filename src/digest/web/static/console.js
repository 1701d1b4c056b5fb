/* The console's script (static: CSP script-src 'self', no inline script anywhere). On the overview: the charts
   (uPlot, vendored) from /admin/charts.json. On the overview and an edition's page: live progress, the
   figures refreshed from /admin/overview.json (or the edition's .json) every few seconds while an edition is
   planned or sending. Every page works without it: the same figures are in its tables, a reload shows them. */
(function () {
  "use strict";
  var COLORS = {sent: "#1a7f37", bounced: "#b3261e", failed: "#8e24aa", unknown: "#f5a623",
                unsubscribed: "#1a5fb4", complaints: "#000000", clicks: "#00897b"};
  var POLL_MS = 5000;
  var span = null;  // [first day, last day] of the overview: both charts cover the same 30 days

  function day(iso) { return Date.parse(iso + "T12:00:00Z") / 1000; }

  function width(el) { return Math.max(280, Math.min(el.clientWidth || 600, 1000)); }

  function xScale() { return {time: true, range: function () { return span; }}; }

  function editionsChart(el, letter, series) {
    var rows = letter.editions;
    var data = [rows.map(function (r) { return day(r.date); })];
    var lines = [{}];
    series.forEach(function (name) {
      data.push(rows.map(function (r) { return r[name]; }));
      lines.push({label: name, stroke: COLORS[name] || "#555", width: 2, points: {show: true}});
    });
    return new uPlot({title: letter.name + ": per edition", width: width(el), height: 260, series: lines,
                      scales: {x: xScale()}}, data, el);
  }

  function listChart(el, letter) {
    var rows = letter.list_size;
    var data = [rows.map(function (r) { return day(r.date); }), rows.map(function (r) { return r.subscriptions; })];
    return new uPlot({title: letter.name + ": list size", width: width(el), height: 200,
                      series: [{}, {label: "subscriptions", stroke: "#1a5fb4", width: 2}],
                      scales: {x: xScale()}}, data, el);
  }

  function drawCharts(root, doc) {
    span = [day(doc.since) - 43200, day(doc.today) + 43200];
    doc.newsletters.forEach(function (letter) {
      var per = root.querySelector('[data-chart="editions"][data-newsletter="' + letter.key + '"]');
      var list = root.querySelector('[data-chart="list"][data-newsletter="' + letter.key + '"]');
      if (per && letter.editions.length) { editionsChart(per, letter, doc.series); }
      if (list && letter.list_size.length) { listChart(list, letter); }
    });
  }

  function getJSON(url, then) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) { if (doc) { then(doc); } })
      .catch(function () { /* the tables keep the figures of the last load */ });
  }

  function busy(e) { return e.status === "planned" || e.status === "sending"; }

  function show(e) {  /* one edition's figures into its row (and state) */
    document.querySelectorAll('[data-edition="' + e.edition + '"]').forEach(function (box) {
      box.querySelectorAll("[data-status]").forEach(function (cell) {
        cell.textContent = String(e.counts[cell.getAttribute("data-status")] || 0);
      });
      box.querySelectorAll('[data-field="status"]').forEach(function (cell) { cell.textContent = e.status; });
      box.querySelectorAll('[data-field="total"]').forEach(function (cell) { cell.textContent = String(e.total); });
    });
  }

  function editionsOf(doc) {  /* overview.json has newsletters of editions; an edition's .json is one */
    if (!doc.newsletters) { return [doc]; }
    return doc.newsletters.reduce(function (all, letter) { return all.concat(letter.editions); }, []);
  }

  function poll(url) {
    getJSON(url, function (doc) {
      var editions = editionsOf(doc);
      editions.forEach(show);
      var sending = editions.some(busy);
      var note = document.getElementById("live");
      if (note) { note.textContent = sending ? "Sending: the figures refresh every few seconds." : ""; }
      if (sending) { window.setTimeout(function () { poll(url); }, POLL_MS); }
    });
  }

  var charts = document.querySelector("[data-charts]");
  if (charts && typeof uPlot !== "undefined") {
    getJSON(charts.getAttribute("data-charts"), function (doc) { drawCharts(charts, doc); });
  }
  var live = document.querySelector("[data-poll]");
  if (live && document.querySelector("[data-live]")) {
    window.setTimeout(function () { poll(live.getAttribute("data-poll")); }, POLL_MS);
  }
})();
