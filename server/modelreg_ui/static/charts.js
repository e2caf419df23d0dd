// Draws every element with a data-chart spec (see modelreg_ui/charts.py) with uPlot.
// After drawing, the element's data-points holds the number of points drawn and
// data-drawn is "true"; window.modelregCharts lists the uPlot instances.
(function () {
  "use strict";
  const palette = ["#2f6fdf", "#e0672b", "#1f9d55", "#b03ab0", "#c9a000", "#0096a8",
                   "#d6336c", "#5c6ac4", "#6b8e23", "#8b5a2b"];
  const charts = [];
  window.modelregCharts = charts;

  function countPoints(spec) {
    let n = 0;
    for (const s of spec.series) for (const v of s.values) if (v !== null && v !== undefined) n++;
    return n;
  }

  function draw(el) {
    const spec = JSON.parse(el.dataset.chart);
    const points = countPoints(spec);
    el.dataset.points = String(points);
    if (!spec.x.length || !points) {
      const empty = document.createElement("div");
      empty.className = "empty";
      empty.textContent = (spec.title ? spec.title + ": " : "") + "no data";
      el.appendChild(empty);
      el.dataset.drawn = "true";
      return;
    }
    const bars = spec.kind === "bars";
    const labels = spec.x_labels || [];
    const series = [{label: spec.x_label || (spec.time ? "time" : "x"),
                     value: bars ? (u, v) => (v === null ? "" : labels[Math.round(v)] ?? "") : undefined}];
    spec.series.forEach((s, i) => {
      const color = palette[i % palette.length];
      const one = {label: s.label, stroke: color, width: 2, spanGaps: true,
                   points: {show: spec.x.length <= 60}};
      if (bars) {
        one.fill = color + "cc";
        one.spanGaps = false;
        one.paths = uPlot.paths.bars({size: [0.9, 80]});
        one.points = {show: false};
      }
      series.push(one);
    });
    const xAxis = bars
      ? {splits: () => labels.map((_, c) => c),
         values: (u, splits) => splits.map((c) => labels[c] ?? "")}
      : {};
    const width = Math.max(320, el.clientWidth - 12);
    const opts = {
      title: spec.title || "",
      width: width,
      height: 240,
      scales: {x: bars ? {time: false, range: [-0.5, labels.length - 0.5]} : {time: !!spec.time},
               // Bars stand on zero: a bar's height is its value.
               ...(bars ? {y: {range: (u, lo, hi) => [Math.min(0, lo * 1.05), Math.max(0, hi * 1.05)]}} : {})},
      series: series,
      axes: [xAxis, {label: spec.y_label || "", size: 60}],
      legend: {live: true},
    };
    const data = [spec.x, ...spec.series.map((s) => s.values)];
    const chart = new uPlot(opts, data, el);
    chart.root.dataset.points = String(points);
    charts.push(chart);
    el.dataset.drawn = "true";
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach((el) => {
      if (el.dataset.drawn !== "true") draw(el);
    });
  }
  window.modelregDrawCharts = drawAll;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
