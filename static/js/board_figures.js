// The board's figures (GET /board/figures/, duties/figures/board.py), refreshed every 20 s:
// a strip with each BCU's strength against its minimum and its free units, the "no unit can
// make it" flags (also marked on the queue's rows), and a coverage layer on the map shading
// each BCU by its best I-grade time to its demand-weighted centre.

const REFRESH_MS = 20000;
const box = document.getElementById("board-figures");
const strengthLine = document.getElementById("board-strength");
const riskList = document.getElementById("breach-risks");
const queue = document.getElementById("queue-body");
let risky = new Set();
let coverage = new Map(); // BCU code → row
let shading = null;

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function minutes(seconds) {
  return seconds === null ? "no free unit" : `${Math.round(seconds / 60)} min`;
}

function renderStrength(rows) {
  strengthLine.replaceChildren(text("span", "Strength now:", "label"));
  for (const row of rows) {
    const item = text(
      "span",
      `${row.bcu} ${row.strength}/${row.minimum} officers, ${row.units_free} units free`,
      row.short ? "strength short" : "strength",
    );
    if (row.short) item.append(text("span", " (short)", "visually-hidden"));
    strengthLine.append(" ", item);
  }
}

function renderRisks(rows) {
  riskList.replaceChildren(...rows.map((r) => {
    const li = document.createElement("li");
    li.dataset.incident = r.incident;
    li.append(text("strong", "No unit can make it: "));
    li.append(`${r.reference} (${r.grade}) due in ${Math.max(1, Math.round(r.seconds_left / 60))} min, fastest ${minutes(r.eta_seconds)}`);
    return li;
  }));
  riskList.hidden = rows.length === 0;
  risky = new Set(rows.map((r) => String(r.incident)));
  markRows();
}

function markRows() {
  if (!queue) return;
  for (const row of queue.querySelectorAll("tr[data-id]")) {
    const flag = risky.has(row.dataset.id);
    if (row.classList.contains("breach-risk") !== flag) row.classList.toggle("breach-risk", flag);
  }
}

const LOOK = {
  good: { fillColor: "#136c2e", label: "within 10 min" },
  tight: { fillColor: "#8a4f00", label: "10 to 15 min" },
  over: { fillColor: "#b00020", label: "over 15 min" },
  none: { fillColor: "#555555", label: "no free unit" },
};

function shadeStyle(feature) {
  const row = coverage.get(feature.properties.bcu);
  const look = LOOK[row ? row.level : "none"];
  return { stroke: false, fillColor: look.fillColor, fillOpacity: 0.22 };
}

function drawCoverage(map) {
  if (!window.L || !map || !map.leaflet) return;
  if (shading) {
    shading.setStyle(shadeStyle);
    return;
  }
  shading = L.geoJSON(null, {
    style: shadeStyle,
    onEachFeature: (f, layer) => layer.bindTooltip(() => {
      const row = coverage.get(f.properties.bcu);
      return document.createTextNode(row
        ? `${row.bcu}: best I-grade time to its demand centre ${minutes(row.eta_seconds)}`
        : `${f.properties.bcu}: no figure`);
    }),
  });
  fetch(box.dataset.boundaries, { credentials: "same-origin", headers: { "X-Beacon-Background": "1" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((geo) => {
      if (!geo) return;
      shading.addData(geo);
      L.control.layers(null, { "Coverage (best I-grade time)": shading }, { collapsed: false }).addTo(map.leaflet);
      shading.addTo(map.leaflet);
      shading.bringToBack();
    })
    .catch(() => {});
}

async function refresh() {
  try {
    const response = await fetch(box.dataset.url, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Beacon-Background": "1" },
    });
    if (!response.ok) return;
    const figures = await response.json();
    renderStrength(figures.strength);
    renderRisks(figures.breach_risks);
    coverage = new Map(figures.coverage.map((row) => [row.bcu, row]));
    drawCoverage(window.beaconBoard && window.beaconBoard.map);
  } catch {
    // The board keeps working without its figures; the next refresh tries again.
  }
}

if (box) {
  if (queue) new MutationObserver(markRows).observe(queue, { childList: true });
  refresh();
  setInterval(refresh, REFRESH_MS);
  window.beaconFigures = { refresh };
}
