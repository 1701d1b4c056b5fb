/* The console's overview: its charts (uPlot, vendored) from /admin/charts.json, and the live progress of the
   editions being sent (the overview's table refreshed from /admin/overview.json every few seconds while one
   is planned or sending). The page works without it: the same figures are in its tables, a reload shows the
   latest. No inline script anywhere (CSP: script-src 'self'). */
(function () {
  "use strict";
  var root = document.querySelector("[data-charts]");
  if (!root) { return; }
  var COLORS = {sent: "#1a7f37", bounced: "#b3261e", failed: "#8e24aa", unknown: "#f5a623",
                unsubscribed: "#1a5fb4", complaints: "#000000", clicks: "#00897b"};
  var POLL_MS = 5000;

  function day(iso) { return Date.parse(iso + "T12:00:00Z") / 1000; }

  function width(el) { return Math.max(280, Math.min(el.clientWidth || 600, 1000)); }

  var span = null;  // [first day, last day] of the overview: both charts cover the same 30 days

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

  function drawCharts(doc) {
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

  function refresh(doc) {
    var busy = false;
    doc.newsletters.forEach(function (letter) {
      letter.editions.forEach(function (e) {
        var row = document.querySelector('tr[data-edition="' + e.edition + '"]');
        if (e.status === "planned" || e.status === "sending") { busy = true; }
        if (!row) { return; }
        row.querySelectorAll("[data-status]").forEach(function (cell) {
          cell.textContent = String(e.counts[cell.getAttribute("data-status")] || 0);
        });
        var state = row.querySelector('[data-field="status"]');
        var total = row.querySelector('[data-field="total"]');
        if (state) { state.textContent = e.status; }
        if (total) { total.textContent = String(e.total); }
      });
    });
    var note = document.getElementById("live");
    if (note) { note.textContent = busy ? "Sending: the figures refresh every few seconds." : ""; }
    if (busy) { window.setTimeout(poll, POLL_MS); }
  }

  function poll() { getJSON(root.getAttribute("data-overview"), refresh); }

  if (typeof uPlot !== "undefined") { getJSON(root.getAttribute("data-charts"), drawCharts); }
  if (document.querySelector('[data-field="status"][data-live]')) { window.setTimeout(poll, POLL_MS); }
})();
