// Draws the daily trend on /stats/ from the table beside it (the table stays the source of
// truth for screen readers and CSV), with each grade's target share as a dashed line.
// uPlot is vendored as a classic script (static/vendor/uplot/) and defines window.uPlot.

function tableColumns(table) {
  const rows = [...table.tBodies[0].rows].filter((row) => row.cells.length > 1);
  return rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim()));
}

function number(text) {
  return text === "" ? null : Number(text);
}

function drawTrend() {
  const box = document.getElementById("trend-chart");
  const table = document.querySelector('table[data-table="trend"]');
  if (!box || !table || !window.uPlot) return;
  const rows = tableColumns(table);
  if (!rows.length) return;
  const days = rows.map((r) => Date.parse(r[0] + "T12:00:00Z") / 1000);
  const targetI = Number(box.dataset.targetI);
  const targetS = Number(box.dataset.targetS);
  const data = [
    days,
    rows.map((r) => number(r[2])),
    rows.map((r) => number(r[4])),
    days.map(() => targetI),
    days.map(() => targetS),
  ];
  const styles = getComputedStyle(document.documentElement);
  const colour = (name, fallback) => styles.getPropertyValue(name).trim() || fallback;
  const options = {
    width: Math.max(320, Math.min(box.clientWidth || 640, 900)),
    height: 260,
    scales: { y: { range: [0, 100] } },
    axes: [{}, { label: "% within target", values: (u, ticks) => ticks.map((t) => t + " %") }],
    series: [
      {},
      { label: "I within 15 min", stroke: colour("--grade-i", "#b00020"), width: 2, spanGaps: true },
      { label: "S within 60 min", stroke: colour("--grade-s", "#8a4f00"), width: 2, spanGaps: true },
      { label: "I target", stroke: colour("--grade-i", "#b00020"), dash: [6, 4], width: 1 },
      { label: "S target", stroke: colour("--grade-s", "#8a4f00"), dash: [2, 4], width: 1 },
    ],
  };
  box.classList.add("drawn");
  new window.uPlot(options, data, box);
}

drawTrend();
