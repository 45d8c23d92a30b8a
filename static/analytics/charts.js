// Charts of the analytics pages, drawn with the vendored uPlot from the JSON the server put next to each figure.
// Every chart has its numbers in a table beside it ("Show data"), which is what keyboards and screen readers read.
(function () {
  "use strict";
  var PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"];

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function width(el) { return Math.max(320, el.clientWidth || el.parentNode.clientWidth || 800); }

  function series(label, i, extra) {
    var s = { label: label, stroke: PALETTE[i % PALETTE.length], width: 2 };
    return Object.assign(s, extra || {});
  }

  function barOptions(labels, names, el) {
    // Side by side, never overlapping: the first series left of the tick, the second right of it.
    function bars(i) {
      return uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.35, 48], align: i === 0 ? -1 : 1 }) : null;
    }
    return {
      width: width(el), height: 240,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] } },
      axes: [{ values: function (u, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); }, incrs: [1] }, {}],
      series: [{}].concat(names.map(function (name, i) {
        return series(name, i, { fill: PALETTE[i % PALETTE.length] + "cc", paths: bars(i), points: { show: false } });
      })),
    };
  }

  function draw(figure) {
    var canvas = figure.querySelector(".chart-canvas");
    if (!canvas || typeof uPlot === "undefined") return;
    canvas.innerHTML = "";
    var kind = figure.dataset.chart, source = figure.dataset.source, data, opts;
    if (kind === "timeseries") {
      data = readJson(source);
      if (!data) return;
      var xs = data.day.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
      opts = { width: width(canvas), height: 220, series: [{}, series("Sent", 0), series("Opened (people)", 2), series("Replied", 1)] };
      new uPlot(opts, [xs, data.sent, data.opened, data.replied], canvas);
    } else if (kind === "bars") {
      data = readJson(source);
      if (!data || !data.labels.length) return;
      var idx = data.labels.map(function (_, i) { return i; });
      if (data.reply) {
        new uPlot(barOptions(data.labels, ["Reply rate %", "Interested rate %"], canvas), [idx, data.reply, data.positive], canvas);
      } else {
        new uPlot(barOptions(data.labels, ["Enrichment $", "AI $"], canvas), [idx, data.enrichment, data.ai], canvas);
      }
    } else if (kind === "reliability") {
      var all = readJson("calibration-data") || [];
      var id = Number(source.split("-").pop());
      data = all.filter(function (c) { return c.id === id; })[0];
      if (!data) return;
      var mids = [5, 15, 25, 35, 45, 55, 65, 75, 85, 95];
      opts = {
        width: width(canvas), height: 220, scales: { x: { time: false }, y: { range: [0, 100] } },
        series: [{}, series("Perfectly calibrated", 3, { dash: [6, 6] }),
                 series("Meeting or won %", 0, { points: { show: true, size: 8 } })],
      };
      new uPlot(opts, [mids, mids, data.observed], canvas);
    }
  }

  function drawAll(root) { (root || document).querySelectorAll("figure[data-chart]").forEach(draw); }
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details.show-data").forEach(function (d) { d.open = true; });
  });
})();
