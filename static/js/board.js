// The despatch board: incident queue, unit board, map and incident panel, kept live.
// Reads come from the socket (live.js); every command goes through the REST API, and the
// socket then tells every desk (this one included) what changed.
// All text from the server is inserted with textContent, never as HTML.
//
// For the keyboard and screen readers (docs/accessibility.md): the queue is an ARIA grid with a
// roving tabindex; what changes on screen is also said through a live region; the alarm and
// the confirmations are modal dialogs that take the focus and give it back; the single-key
// shortcuts come from the user's settings (#user-prefs), which can switch them off or move them.

import { LiveFeed } from "./live.js";
import * as alarm from "./alarm.js";
import { clockTime } from "./clock.js";

const config = JSON.parse(document.getElementById("board-config").textContent);
const prefs = JSON.parse(document.getElementById("user-prefs").textContent);
const GRADE_ORDER = { I: 0, S: 1, E: 2, R: 3 };
const STATUS_ORDER = ["available", "assigned", "en_route", "at_scene", "unavailable", "off_duty"];
const STATUS_LABEL = Object.fromEntries(config.statuses.map((s) => [s.value, s.label]));

const state = {
  incidents: new Map(), // id -> board incident
  units: new Map(), // callsign -> unit
  selected: null, // incident id
  detail: null, // GET /api/v1/incidents/{id}/ of the selected incident
  recs: [], // recommended call signs for the selected incident
  emergencies: new Map(), // callsign -> unit, raised and not acknowledged
  undelivered: new Map(), // radio message id -> radio.undelivered data, until dismissed
  announced: [], // every announcement made, oldest first (for support staff and the tests)
  majors: new Map(), // incident id -> declared major incident, until stood down (issue 17)
};
// The board of one planned operation (?operation=id): its tagged incidents and its units only.
const OPERATION = config.operation || null;
const FREE = (u) => !u.emergency && (u.status === "available" || (u.status === "unavailable" && u.deployable));

// --- helpers ------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function csrf() {
  return document.querySelector("[name=csrfmiddlewaretoken]").value;
}

async function api(method, url, body) {
  const r = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await r.json();
  } catch {
    data = null;
  }
  if (!r.ok) {
    const err = new Error(describeError(r.status, data));
    err.status = r.status;
    err.data = data;
    throw err;
  }
  return data;
}

function describeError(status, data) {
  if (data && typeof data.detail === "string") return data.detail;
  if (data && typeof data === "object") {
    return Object.entries(data)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : v}`)
      .join("; ");
  }
  if (status === 503) return "A backing service is down; nothing was saved. Try again.";
  return `The server answered ${status}.`;
}

function fmtDuration(ms) {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const hrs = Math.floor(s / 3600);
  s -= hrs * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const text = hrs ? `${hrs}h${String(m).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
  return neg ? `-${text}` : text;
}

function fmtTime(iso) {
  return clockTime(iso);
}

// Said to screen readers: into the live region of the dialog that is open (everything outside
// a modal dialog is inert, so a region there would not be heard), else the page's own.
function announce(text, { urgent = false } = {}) {
  const inDialog = [...document.querySelectorAll("dialog[open] [data-announcer]")].pop();
  const region = inDialog || $(urgent ? "announcer-urgent" : "announcer");
  region.append(h("p", {}, text));
  while (region.children.length > 12) region.firstElementChild.remove();
  state.announced.push(text);
}

function describeIncident(i) {
  const where = i.location.address || `${i.location.lat.toFixed(4)}, ${i.location.lon.toFixed(4)}`;
  return `${i.reference}, grade ${i.grade}, ${i.type_name || i.type}, ${where}, ${i.status.replace("_", " ")}`;
}

function flash(text, kind = "error") {
  const el = $("flash");
  el.textContent = text;
  el.className = `flash ${kind}`;
  el.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => (el.hidden = true), 8000);
}

// --- applying snapshots and events ----------------------------------------------------------

function applySnapshot(data) {
  state.incidents = new Map(data.incidents.map((i) => [i.id, i]));
  state.units = new Map(data.units.map((u) => [u.callsign, u]));
  state.emergencies = new Map(data.units.filter((u) => u.emergency).map((u) => [u.callsign, u]));
  state.majors = new Map((data.major_incidents || []).map((m) => [m.incident, m]));
  renderMajors();
  renderAll();
  if (state.selected !== null) loadPanel(state.selected);
}

function applyEvent(msg) {
  const d = msg.data;
  switch (msg.type) {
    case "incident.created":
    case "incident.updated": {
      const before = state.incidents.get(d.id);
      state.incidents.set(d.id, d);
      // New I-grade work (created, or re-graded to I) is said as well as shown.
      if (d.grade === "I" && d.status !== "closed" && (!before || before.grade !== "I")) {
        announce(`${before ? "Re-graded to I" : "New I-grade incident"}: ${describeIncident(d)}`);
      }
      if (d.id === state.selected && before && (before.grade !== d.grade || before.type !== d.type)) {
        refreshRecommendationsSoon();
      }
      break;
    }
    case "incident.closed":
      state.incidents.delete(d.id);
      break;
    case "unit.updated":
    case "unit.emergency": {
      state.units.set(d.callsign, d);
      if (d.emergency) state.emergencies.set(d.callsign, d);
      else if (state.emergencies.delete(d.callsign)) afterRender(`Emergency of ${d.callsign} acknowledged`);
      // A recommended unit sent elsewhere (or no longer free): the list must not offer it.
      if (state.recs.includes(d.callsign) && !FREE(d)) refreshRecommendationsSoon();
      break;
    }
    case "recommendations.ready":
      if (d.incident === state.selected) loadRecommendations(state.selected);
      return;
    case "radio.undelivered":
      state.undelivered.set(d.message, d);
      renderUndelivered();
      return;
    case "major.declared":
      state.majors.set(d.incident, d);
      renderMajors();
      announce(`Major incident declared: ${d.reference}, ${d.methane.exact_location}`, { urgent: true });
      return;
    case "major.stood_down":
      state.majors.delete(d.incident);
      renderMajors();
      announce(`Major incident ${d.reference} stood down`);
      return;
    case "report.overdue":
      overdueReports.set(d.id, d);
      renderOverdueReports();
      return;
    case "report.triaged":
      if (overdueReports.delete(d.id)) renderOverdueReports();
      return;
    default:
      return;
  }
  scheduleRender();
  const touches =
    (msg.type.startsWith("incident.") && d.id === state.selected) ||
    (msg.type.startsWith("unit.") && (d.incident === state.selected || panelHasUnit(d.callsign)));
  if (touches && state.selected !== null) loadPanel(state.selected);
}

function panelHasUnit(callsign) {
  return !!state.detail && state.detail.assignments.some((a) => a.unit === callsign && !a.cleared_at);
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderAll();
  });
}

// Said once the screen shows it: an acknowledgement closes the alarm first, so it is heard
// from the page's live region rather than from the dialog that is going away.
const pending = [];
function afterRender(text) {
  pending.push(text);
}

function renderAll() {
  renderQueue();
  renderUnits();
  renderMap();
  renderAlarm();
  tick();
  for (const text of pending.splice(0)) announce(text);
}

// --- the major incident banner (issue 17) ----------------------------------------------------

function renderMajors() {
  const el = $("major-banner");
  if (!el) return;
  const majors = [...state.majors.values()];
  el.hidden = majors.length === 0;
  el.replaceChildren(
    ...majors.map((m) =>
      h("p", {}, `MAJOR INCIDENT ${m.reference} (${m.bcu || "—"}) declared ${fmtTime(m.declared_at)} by ${m.declared_by}: ${m.methane.exact_location} · ${m.methane.type}`),
    ),
  );
}

// --- the incident queue ---------------------------------------------------------------------

function unitsOn(incidentId) {
  const out = [];
  for (const u of state.units.values()) if (u.incident === incidentId) out.push(u);
  return out;
}

function visibleIncidents() {
  const f = { bcu: $("f-bcu").value, grade: $("f-grade").value, status: $("f-status").value };
  const now = Date.now();
  const left = (i) => (i.due_at ? Date.parse(i.due_at) - now : Infinity);
  return [...state.incidents.values()]
    .filter((i) => i.status !== "closed")
    .filter((i) => !OPERATION || i.operation === OPERATION.id)
    .filter((i) => !f.bcu || i.location.bcu === f.bcu)
    .filter((i) => !f.grade || i.grade === f.grade)
    .filter((i) => !f.status || i.status === f.status)
    .sort(
      (a, b) =>
        (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) ||
        GRADE_ORDER[a.grade] - GRADE_ORDER[b.grade] ||
        left(a) - left(b) ||
        Date.parse(a.created_at) - Date.parse(b.created_at),
    );
}

// The queue is an ARIA grid: one row in the tab order (the selected one, else the first), the
// arrow keys move between rows, and selection follows. Rows are kept and updated in place, so
// a live update neither moves the focus nor makes a screen reader read the row again.
const queueRows = new Map(); // incident id -> tr

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function queueRow(i) {
  let tr = queueRows.get(i.id);
  if (!tr) {
    tr = h(
      "tr",
      { dataset: { id: i.id }, tabindex: "-1", onclick: () => select(i.id) },
      h("td", { class: "grade" }),
      h("td", { class: "ref" }),
      h("td", { class: "type" }),
      h("td", { class: "addr" }),
      h("td", { class: "bcu" }),
      h("td", { class: "status" }),
      h("td", { class: "on" }),
      h("td", { class: "countdown" }, ""),
    );
    queueRows.set(i.id, tr);
  }
  const selected = i.id === state.selected;
  const keep = ["breached", "near"].filter((c) => tr.classList.contains(c));
  tr.className = [`inc grade-${i.grade} st-${i.status}`, selected ? "selected" : "", ...keep].join(" ").trim();
  tr.setAttribute("aria-selected", String(selected));
  tr.dataset.due = i.due_at || "";
  tr.dataset.status = i.status;
  const c = tr.cells;
  setText(c[0], i.grade);
  setText(c[1], i.reference);
  setText(c[2], i.type_name || i.type);
  setText(c[3], i.location.address || `${i.location.lat.toFixed(4)}, ${i.location.lon.toFixed(4)}`);
  setText(c[4], i.location.bcu || "—");
  setText(c[5], i.status.replace("_", " "));
  setText(c[6], unitsOn(i.id).map((u) => u.callsign).join(" "));
  return tr;
}

function renderQueue() {
  const rows = visibleIncidents();
  const body = $("queue-body");
  const focused = body.contains(document.activeElement) ? Number(document.activeElement.dataset.id) : null;
  const wanted = rows.map(queueRow);
  const keep = new Set(rows.map((i) => i.id));
  for (const [id, tr] of queueRows) {
    if (!keep.has(id)) {
      tr.remove();
      queueRows.delete(id);
    }
  }
  wanted.forEach((tr, n) => {
    if (body.children[n] !== tr) body.insertBefore(tr, body.children[n] || null);
  });
  rovingTabindex();
  // A row that had the focus keeps it, even when it moved in the order.
  if (focused !== null && document.activeElement !== queueRows.get(focused)) {
    (queueRows.get(focused) || body.querySelector("tr[tabindex='0']"))?.focus({ preventScroll: true });
  }
  $("queue-empty").hidden = rows.length > 0;
  $("queue-count").textContent = `${rows.length}`;
}

function rovingTabindex() {
  const body = $("queue-body");
  const current = queueRows.get(state.selected) || body.firstElementChild;
  for (const tr of body.children) {
    tr.tabIndex = tr === current ? 0 : -1;
    tr.setAttribute("aria-selected", String(Number(tr.dataset.id) === state.selected));
    tr.classList.toggle("selected", Number(tr.dataset.id) === state.selected);
  }
}

function bindQueue() {
  $("queue-body").addEventListener("keydown", (e) => {
    const row = e.target.closest("tr");
    if (!row || e.ctrlKey || e.metaKey || e.altKey) return;
    const rows = [...$("queue-body").children];
    const n = rows.indexOf(row);
    const to = { ArrowDown: n + 1, ArrowUp: n - 1, Home: 0, End: rows.length - 1 }[e.key];
    if (to !== undefined) {
      e.preventDefault();
      const next = rows[Math.max(0, Math.min(rows.length - 1, to))];
      next.focus();
      select(Number(next.dataset.id), { quiet: true }); // the row itself is read on focus
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      select(Number(row.dataset.id), { quiet: true });
      $("panel-title").focus();
    }
  });
}

// --- the unit board -------------------------------------------------------------------------

function jobFlag(u, now) {
  const job = u.job;
  if (!job) return null;
  const limits = config.timers[job.grade] || {};
  if (job.at_scene_at) {
    const lim = limits.at_scene;
    return lim != null && now - Date.parse(job.at_scene_at) > lim * 60000 ? "long at scene" : null;
  }
  if (!job.en_route_at) {
    const lim = limits.not_en_route;
    return lim != null && now - Date.parse(job.assigned_at) > lim * 60000 ? "not en route" : null;
  }
  return null;
}

function renderUnits() {
  const bcu = $("u-bcu").value;
  const units = [...state.units.values()]
    .filter((u) => !OPERATION || OPERATION.units.includes(u.callsign))
    .filter((u) => !bcu || u.bcu === bcu);
  const groups = STATUS_ORDER.map((status) => {
    const members = units.filter((u) => u.status === status);
    if (!members.length) return null;
    return h(
      "div",
      { class: `ugroup us-${status}` },
      h("h3", {}, `${STATUS_LABEL[status] || status} (${members.length})`),
      h(
        "ul",
        {},
        members.map((u) =>
          h(
            "li",
            {
              class: `unit${u.emergency ? " emergency" : ""}`,
              dataset: { callsign: u.callsign, since: u.status_at || "" },
              title: (u.skills || []).join(", "),
              onclick: () => (u.incident ? select(u.incident) : prefillAssign(u.callsign)),
            },
            h("b", {}, u.callsign),
            h("span", { class: "utype" }, u.type),
            h("span", { class: "ubcu" }, u.bcu),
            u.deployable ? h("span", { class: "tag" }, "deployable") : null,
            u.incident ? h("span", { class: "tag job" }, refOf(u.incident)) : null,
            // The crew acknowledged the despatch on an officer's phone (docs/officer-app.md).
            u.job && u.job.acknowledged_at ? h("span", { class: "tag ack", title: `acknowledged ${fmtTime(u.job.acknowledged_at)}` }, "ack") : null,
            h("span", { class: "flag" }, ""),
            h("span", { class: "since" }, ""),
          ),
        ),
      ),
    );
  });
  $("unit-groups").replaceChildren(...groups.filter(Boolean));
  $("units-count").textContent = `${units.length}`;
  $("free-units").replaceChildren(
    ...units
      .filter((u) => u.status === "available" || (u.status === "unavailable" && u.deployable))
      .map((u) => h("option", { value: u.callsign }, `${u.type} ${u.bcu}`)),
  );
}

function refOf(id) {
  const i = state.incidents.get(id);
  return i ? i.reference : `#${id}`;
}

function prefillAssign(callsign) {
  if (state.selected === null) return;
  $("assign-unit").value = callsign;
  $("assign-unit").focus();
}

// Countdowns, time in status and job timers move every second without a full redraw.
function tick() {
  const now = Date.now();
  for (const row of $("queue-body").children) {
    const cell = row.querySelector(".countdown");
    const due = row.dataset.due;
    if (!due) {
      cell.textContent = "—";
      continue;
    }
    const left = Date.parse(due) - now;
    // A target is met by arriving: once at scene the clock no longer matters.
    const breached = left < 0 && row.dataset.status !== "at_scene";
    cell.textContent = row.dataset.status === "at_scene" ? "met" : fmtDuration(left);
    row.classList.toggle("breached", breached);
    row.classList.toggle("near", !breached && left < 3 * 60000 && row.dataset.status !== "at_scene");
  }
  for (const li of document.querySelectorAll("#unit-groups li.unit")) {
    const since = li.dataset.since;
    li.querySelector(".since").textContent = since ? fmtDuration(now - Date.parse(since)) : "";
    const flag = jobFlag(state.units.get(li.dataset.callsign) || {}, now);
    li.querySelector(".flag").textContent = flag ? `⚑ ${flag}` : "";
    li.classList.toggle("flagged", !!flag);
  }
}

// --- the map --------------------------------------------------------------------------------

const map = {
  leaflet: null,
  incidents: null,
  units: null,
  incidentIndex: new Map(),
  unitIndex: new Map(),
};
// Markers differ by shape and label, never by colour alone: an incident is a diamond with its
// grade letter, a unit a label with its call sign and a status shape (legend under the map).
const UNIT_GLYPH = {
  available: "○", assigned: "□", en_route: "▷", at_scene: "◆", unavailable: "×", off_duty: "–",
};

function incidentLook(i) {
  return `${i.grade}|${i.id === state.selected}`;
}

function incidentIcon(i) {
  const selected = i.id === state.selected;
  const size = selected ? 26 : 20;
  return L.divIcon({
    html: h("span", { class: `mk-inc grade-${i.grade}${selected ? " selected" : ""}` }, h("span", {}, i.grade)),
    className: `m-incident m-inc-${i.id}`,
    iconSize: [size, size],
  });
}

function unitLook(u) {
  return `${u.status}|${u.emergency}`;
}

function unitIcon(u) {
  return L.divIcon({
    html: h(
      "span",
      { class: `mk-unit st-${u.status}${u.emergency ? " emergency" : ""}` },
      h("span", { class: "mk-glyph" }, u.emergency ? "⚠" : UNIT_GLYPH[u.status] || "?"),
      u.callsign,
    ),
    className: `m-unit${u.emergency ? " m-emergency" : ""}`,
    iconSize: null, // sized by its label (static/css/board.css)
  });
}

function initMap() {
  if (!window.L) {
    $("map").textContent = "Map library failed to load.";
    return;
  }
  const m = L.map("map", { zoomControl: true }).setView([51.5072, -0.1276], 10);
  map.leaflet = m;
  // Tiles are optional: with no tile server reachable, the boundaries and markers still show.
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(m);
  }
  map.incidents = L.layerGroup().addTo(m);
  map.units = L.layerGroup().addTo(m);
  fetch(config.boundaries_url, { credentials: "same-origin", headers: { "X-Beacon-Background": "1" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((geo) => {
      if (!geo || !geo.features.length) return;
      const layer = L.geoJSON(geo, {
        style: (f) => ({
          color: f.properties.bcu === config.bcu ? "#0b4f9c" : "#56606b",
          dashArray: f.properties.bcu === config.bcu ? null : "4 3", // own BCU: solid and bold
          weight: f.properties.bcu === config.bcu ? 2.5 : 1,
          fillOpacity: 0.04,
          className: "m-borough",
        }),
        onEachFeature: (f, l) => l.bindTooltip(asText(`${f.properties.name} (${f.properties.bcu})`)),
      }).addTo(m);
      layer.bringToBack();
      map.boroughs = geo.features.map((f) => f.properties);
      renderMapFacts();
      const own = geo.features.filter((f) => f.properties.bcu === config.bcu);
      m.fitBounds((own.length ? L.geoJSON({ type: "FeatureCollection", features: own }) : layer).getBounds());
    })
    .catch(() => {});
}

// Leaflet puts a string tooltip in with innerHTML. Names here are typed into the admin
// (boroughs, BCUs, incident types, call signs), so they go in as text nodes, never as markup.
function asText(text) {
  return document.createTextNode(String(text));
}

// Markers are kept and updated in place: a busy board redraws often, and rebuilding
// thousands of markers on every event would stall the page.
function syncMarkers(layer, index, items, key, latlng, look, icon, tooltip, onClick) {
  const seen = new Set();
  for (const item of items) {
    const k = key(item);
    const pos = latlng(item);
    if (!pos) continue;
    seen.add(k);
    let marker = index.get(k);
    if (!marker) {
      marker = L.marker(pos, { icon: icon(item), keyboard: false }).bindTooltip(asText("")).addTo(layer);
      marker.look = look(item);
      if (onClick) marker.on("click", () => onClick(item.id ?? k));
      index.set(k, marker);
    } else {
      marker.setLatLng(pos);
      if (marker.look !== look(item)) {
        marker.setIcon(icon(item)); // only when its shape or label changes: moves are cheap
        marker.look = look(item);
      }
    }
    marker.setTooltipContent(asText(tooltip(item)));
  }
  for (const [k, marker] of index) {
    if (!seen.has(k)) {
      layer.removeLayer(marker);
      index.delete(k);
    }
  }
}

function renderMap() {
  if (!map.leaflet) return;
  syncMarkers(
    map.incidents, map.incidentIndex, visibleIncidents(), (i) => i.id,
    (i) => [i.location.lat, i.location.lon],
    incidentLook,
    incidentIcon,
    (i) => `${i.reference} ${i.grade} ${i.type_name || i.type}`,
    (id) => select(id),
  );
  const bcu = $("u-bcu").value;
  syncMarkers(
    map.units, map.unitIndex,
    [...state.units.values()].filter((u) => u.status !== "off_duty" && (!bcu || u.bcu === bcu)),
    (u) => u.callsign,
    (u) => (u.position ? [u.position.lat, u.position.lon] : null),
    unitLook,
    unitIcon,
    (u) => `${u.callsign} ${STATUS_LABEL[u.status] || u.status}`,
    null,
  );
  renderMapFacts();
}

// Every fact on the map, as a list (WCAG 1.1.1, 1.3.1): drawn only while it is open.
function renderMapFacts() {
  if (!$("map-facts").open) return;
  const pos = (p) => `${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}`;
  $("facts-incidents").replaceChildren(
    ...visibleIncidents().map((i) =>
      h("li", {}, `◆ ${i.grade} · ${i.reference} · ${i.type_name || i.type} · ${i.location.address || "no address"} · ${pos(i.location)} · ${i.status.replace("_", " ")}${i.id === state.selected ? " · selected" : ""}`),
    ),
  );
  const bcu = $("u-bcu").value;
  $("facts-units").replaceChildren(
    ...[...state.units.values()]
      .filter((u) => u.position && u.status !== "off_duty" && (!bcu || u.bcu === bcu))
      .map((u) =>
        h("li", {}, `${u.emergency ? "⚠ EMERGENCY · " : `${UNIT_GLYPH[u.status] || ""} `}${u.callsign} · ${STATUS_LABEL[u.status] || u.status} · ${u.type} · ${u.bcu} · ${pos(u.position)}${u.incident ? ` · on ${refOf(u.incident)}` : ""}`),
      ),
  );
  $("facts-boroughs").replaceChildren(
    ...(map.boroughs || []).map((b) =>
      h("li", {}, `${b.name} · BCU ${b.bcu}${b.bcu === config.bcu ? " · your BCU (solid, bold outline)" : " (dashed outline)"}`),
    ),
  );
}

// --- the emergency alarm --------------------------------------------------------------------

// The alarm is a modal dialog: it takes the focus (the oldest unit's button), keeps it until
// every emergency is acknowledged (Escape does not close it), then gives it back.
let alarmShown = ""; // the emergencies on screen, so a redraw happens only when they change
let alarmReturn = null;

function renderAlarm() {
  const box = $("alarm");
  const list = [...state.emergencies.values()].sort((a, b) =>
    (a.emergency_at || "").localeCompare(b.emergency_at || ""),
  );
  const key = list.map((u) => `${u.callsign}@${u.emergency_at}|${u.incident}`).join(",");
  if (key === alarmShown) return;
  const before = new Set(alarmShown ? alarmShown.split(",").map((k) => k.split("@")[0]) : []);
  alarmShown = key;
  if (!list.length) {
    if (box.open) box.close();
    document.body.classList.remove("in-emergency");
    alarm.stop();
    return;
  }
  const focused = box.contains(document.activeElement) ? document.activeElement.dataset.callsign : null;
  $("alarm-list").replaceChildren(
    ...list.map((u) =>
      h(
        "li",
        {},
        h("strong", {}, u.callsign),
        ` ${u.type} · ${u.bcu} · raised ${fmtTime(u.emergency_at)}`,
        u.incident ? ` · on ${refOf(u.incident)}` : "",
        u.position ? ` · ${u.position.lat.toFixed(4)}, ${u.position.lon.toFixed(4)}` : "",
        " ",
        h("button", { type: "button", class: "ack", dataset: { callsign: u.callsign }, onclick: () => acknowledge(u.callsign) }, `Acknowledge ${u.callsign}`),
      ),
    ),
  );
  if (!box.open) {
    alarmReturn = document.activeElement;
    box.showModal();
  }
  const buttons = [...box.querySelectorAll("button.ack")];
  (buttons.find((b) => b.dataset.callsign === focused) || buttons[0]).focus();
  document.body.classList.add("in-emergency");
  alarm.start();
  for (const u of list) {
    if (!before.has(u.callsign)) {
      announce(`Emergency: ${u.callsign}, ${u.type}, ${u.bcu}, raised ${fmtTime(u.emergency_at)}${u.incident ? `, on ${refOf(u.incident)}` : ""}`, { urgent: true });
    }
  }
}

// Tab and Shift+Tab go round inside an open dialog instead of leaving it for the browser's
// own controls (a modal dialog alone lets them out past its last button).
function keepFocusIn(dialog) {
  dialog.addEventListener("keydown", (e) => {
    if (e.key !== "Tab") return;
    const items = [...dialog.querySelectorAll("button, input, select, textarea, a[href], [tabindex='0']")]
      .filter((el) => !el.disabled && el.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      e.preventDefault();
      first.focus();
    }
  });
}

function bindAlarm() {
  const box = $("alarm");
  for (const dialog of [box, $("confirm"), $("help")]) keepFocusIn(dialog);
  box.addEventListener("cancel", (e) => e.preventDefault()); // an emergency is acknowledged, not escaped
  box.addEventListener("close", () => {
    const back = alarmReturn && alarmReturn.isConnected && alarmReturn !== document.body ? alarmReturn : null;
    (back || queueRows.get(state.selected) || $("queue-body").firstElementChild)?.focus();
    alarmReturn = null;
  });
}

function acknowledgeOldest() {
  const oldest = [...state.emergencies.values()].sort((a, b) =>
    (a.emergency_at || "").localeCompare(b.emergency_at || ""),
  )[0];
  if (oldest) acknowledge(oldest.callsign);
}

// A question before a one-key despatch or a close: Enter confirms, Escape cancels; the focus
// goes back where it was.
function confirmAction({ title, text, yes }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = `${yes} (Enter)`;
  dialog.returnValue = "";
  const back = document.activeElement;
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (back && back.isConnected && back !== document.body) back.focus();
        resolve(dialog.returnValue === "yes");
      },
      { once: true },
    );
    dialog.showModal();
    $("confirm-yes").focus();
  });
}

// --- despatch messages not delivered (radio.undelivered) ------------------------------------
// A unit's terminal has not confirmed its despatch message in time: the job must go by voice.
// It stays on screen until a despatcher dismisses it (on this desk only).

function renderUndelivered() {
  let box = $("radio-alerts");
  if (!box) {
    box = h("div", { id: "radio-alerts", class: "radio-alerts", role: "alert" });
    document.body.prepend(box);
  }
  const list = [...state.undelivered.values()];
  box.hidden = list.length === 0;
  box.replaceChildren(
    ...list.map((a) =>
      h(
        "div",
        { class: "radio-alert" },
        h("strong", {}, `${a.unit}: despatch message not delivered`),
        ` · ${a.reference} · ${a.state} · ${Math.round(a.age_s)} s since ${fmtTime(a.queued_at)} · pass it by voice `,
        h("button", { type: "button", class: "small", onclick: () => select(a.incident) }, "Open"),
        " ",
        h("button", { type: "button", class: "small secondary", onclick: () => { state.undelivered.delete(a.message); renderUndelivered(); } }, "Dismiss"),
      ),
    ),
  );
}

// --- online reports untriaged too long (report.overdue): the supervisors' alert -------------

const overdueReports = new Map(); // report id -> report.overdue data, until triaged or dismissed

function renderOverdueReports() {
  let box = $("report-alerts");
  if (!box) {
    box = h("div", { id: "report-alerts", class: "radio-alerts", role: "alert" });
    document.body.prepend(box);
  }
  const list = [...overdueReports.values()];
  box.hidden = list.length === 0;
  box.replaceChildren(
    ...list.map((r) =>
      h(
        "div",
        { class: "radio-alert" },
        h("strong", {}, `Online report ${r.reference} not triaged`),
        ` · received ${fmtTime(r.received_at)}${r.risk_flags.length ? ` · risks: ${r.risk_flags.join(", ")}` : ""} `,
        h("a", { href: `/triage/${r.id}/` }, "Open in triage"),
        " ",
        h("button", { type: "button", class: "small secondary", onclick: () => { overdueReports.delete(r.id); renderOverdueReports(); } }, "Dismiss"),
      ),
    ),
  );
}

async function acknowledge(callsign) {
  try {
    await api("POST", `/api/v1/units/${encodeURIComponent(callsign)}/emergency/acknowledge/`);
    // The event confirms it for every other desk.
    const was = state.emergencies.delete(callsign);
    renderAlarm();
    if (was) announce(`Emergency of ${callsign} acknowledged`);
  } catch (err) {
    if (err.status === 409) {
      state.emergencies.delete(callsign); // someone else took it first
      renderAlarm();
    } else flash(err.message);
  }
}

// --- the incident panel ---------------------------------------------------------------------

// `quiet`: the focus moved onto the row, and a screen reader reads it with its selected state.
function select(id, { quiet = false } = {}) {
  const changed = state.selected !== id;
  state.selected = id;
  if (changed) state.recs = [];
  $("panel-empty").hidden = true;
  $("panel-body").hidden = false;
  rovingTabindex();
  renderMap();
  const incident = state.incidents.get(id);
  if (changed && !quiet && incident) announce(`Selected ${describeIncident(incident)}`);
  loadPanel(id);
  loadRecommendations(id);
}

function panelError(text) {
  const el = $("panel-error");
  el.textContent = text || "";
  el.hidden = !text;
}

let panelSeq = 0;
async function loadPanel(id) {
  const mine = ++panelSeq;
  try {
    const detail = await api("GET", `/api/v1/incidents/${id}/`);
    if (mine !== panelSeq || id !== state.selected) return;
    state.detail = detail;
    renderPanel();
  } catch (err) {
    if (mine === panelSeq) panelError(err.message);
  }
}

let recSeq = 0;
let recTimer = null;
function refreshRecommendationsSoon() {
  // Several events often arrive together (a unit's status, its assignment, the incident).
  clearTimeout(recTimer);
  recTimer = setTimeout(() => state.selected !== null && loadRecommendations(state.selected), 150);
}

async function loadRecommendations(id) {
  const box = $("recommendations");
  const mine = ++recSeq;
  try {
    const r = await fetch(`/api/v1/incidents/${id}/recommendations/`, {
      credentials: "same-origin",
      // Also refetched when a recommendation event arrives: not user activity.
      headers: { Accept: "application/json", "X-Beacon-Background": "1" },
    });
    // Recommendations are optional: if the endpoint is missing or fails, show nothing.
    if (mine !== recSeq) return; // a newer request is on its way
    if (!r.ok || id !== state.selected) {
      if (id === state.selected) box.hidden = true;
      return;
    }
    const data = await r.json();
    if (mine !== recSeq) return;
    // Only units that could go now: a unit assigned meanwhile is never offered.
    const results = (data.results || []).filter((x) => {
      const u = state.units.get(x.unit);
      return !u || FREE(u);
    });
    state.recs = results.slice(0, 5).map((x) => x.unit);
    $("rec-list").replaceChildren(
      ...results.slice(0, 5).map((x, n) =>
        h(
          "li",
          { dataset: { unit: x.unit } },
          h("button", { type: "button", class: "secondary small", onclick: () => assign(x.unit) }, `Send ${x.unit}`),
          " ",
          h("kbd", { class: "if-shortcuts" }, prefs.keys[`recommend_${n + 1}`]),
          ` ${Math.round((x.eta_seconds || 0) / 60)} min · ${((x.distance_m || 0) / 1000).toFixed(1)} km`,
          x.reasons && x.reasons.length ? h("small", {}, ` — ${x.reasons.join("; ")}`) : "",
        ),
      ),
    );
    box.hidden = state.recs.length === 0;
  } catch {
    if (mine === recSeq) box.hidden = true;
  }
}

function renderPanel() {
  const d = state.detail;
  if (!d) return;
  $("panel-title").textContent = `${d.reference} · ${d.grade} · ${d.status.replace("_", " ")}`;
  const facts = [
    ["Type", d.type_name || d.type],
    ["Location", d.location.address || `${d.location.lat}, ${d.location.lon}`],
    ["BCU", d.location.bcu || "—"],
    ["Created", `${fmtTime(d.created_at)}${d.created_by ? ` by ${d.created_by}` : ""}`],
    ["Target", d.due_at ? fmtTime(d.due_at) : "—"],
    ["Summary", d.summary || ""],
  ];
  $("panel-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  const active = d.assignments.filter((a) => !a.cleared_at);
  $("panel-assignments").replaceChildren(
    ...(d.assignments.length
      ? d.assignments.map((a) =>
          h(
            "li",
            { class: a.cleared_at ? "cleared" : "" },
            h("b", {}, a.unit),
            ` ${a.status.replace("_", " ")} · ${fmtTime(a.assigned_at)}`,
            a.message_state ? h("span", { class: `msg-state msg-${a.message_state}` }, ` · message ${a.message_state}`) : "",
            a.acknowledged_at ? h("span", { class: "ack-state" }, ` · acknowledged ${fmtTime(a.acknowledged_at)}`) : "",
            a.cleared_at
              ? ` – ${fmtTime(a.cleared_at)}`
              : h("button", { type: "button", class: "secondary small", onclick: () => unassign(a.unit) }, "Unassign"),
          ),
        )
      : [h("li", { class: "empty" }, "No units yet.")]),
  );
  $("status-unit").replaceChildren(...active.map((a) => h("option", { value: a.unit }, a.unit)));
  $("status-form").hidden = active.length === 0;
  $("grade-value").value = d.grade;
  $("panel-log").replaceChildren(
    ...[...d.log].reverse().map((e) =>
      h("li", { class: `log-${e.kind}` }, h("time", {}, fmtTime(e.at)), h("span", { class: "by" }, e.by || "system"), h("span", { class: "text" }, e.text)),
    ),
  );
  const closed = d.status === "closed";
  for (const f of ["assign-form", "grade-form", "close-form"]) $(f).hidden = closed;
}

async function act(fn, okText) {
  panelError("");
  try {
    const result = await fn();
    if (okText) flash(okText, "ok");
    return result;
  } catch (err) {
    // 409: say why, in the despatcher's terms (e.g. "CN01 is not free to go: assigned on …").
    panelError(err.status === 409 ? `Not done: ${err.message}` : err.message);
    return null;
  }
}

async function assign(callsign) {
  const id = state.selected;
  if (id === null || !callsign) return;
  const detail = await act(() => api("POST", `/api/v1/incidents/${id}/assign/`, { unit: callsign }), `${callsign} assigned`);
  if (detail) announce(`${callsign} assigned to ${detail.reference}`);
  if (detail && id === state.selected) {
    state.detail = detail;
    $("assign-unit").value = "";
    renderPanel();
  }
  // After every assignment, whatever the outcome: the unit (or the one refused) has moved on.
  if (id === state.selected) loadRecommendations(id);
}

// Keys 1-5: despatch that recommended unit, after Enter unless the user turned that off.
async function despatchRecommended(n) {
  const id = state.selected;
  const callsign = state.recs[n - 1];
  if (id === null || !callsign) return;
  if (prefs.confirm_despatch) {
    const ref = state.detail ? state.detail.reference : refOf(id);
    const ok = await confirmAction({ title: "Despatch?", text: `Send ${callsign} to ${ref}?`, yes: `Send ${callsign}` });
    if (!ok || id !== state.selected) {
      if (!ok) announce("Not sent");
      return;
    }
  }
  assign(callsign);
}

async function unassign(callsign) {
  const id = state.selected;
  const detail = await act(() => api("POST", `/api/v1/incidents/${id}/unassign/`, { unit: callsign }), `${callsign} unassigned`);
  if (detail && id === state.selected) {
    state.detail = detail;
    renderPanel();
  }
}

function bindForms() {
  $("assign-form").addEventListener("submit", (e) => {
    e.preventDefault();
    assign($("assign-unit").value.trim().toUpperCase());
  });
  $("status-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const unit = $("status-unit").value;
    const status = $("status-value").value;
    if (!unit) return;
    await act(() => api("POST", `/api/v1/units/${encodeURIComponent(unit)}/status/`, { status }), `${unit} ${STATUS_LABEL[status]}`);
  });
  $("log-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("log-text").value.trim();
    if (!text) return;
    const ok = await act(() => api("POST", `/api/v1/incidents/${state.selected}/log/`, { text }), "Logged");
    if (ok !== null) {
      $("log-text").value = "";
      loadPanel(state.selected);
    }
  });
  $("grade-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const grade = $("grade-value").value;
    const reason = $("grade-reason").value.trim();
    const ok = await act(() => api("POST", `/api/v1/incidents/${state.selected}/grade/`, { grade, reason }), `Re-graded ${grade}`);
    if (ok !== null) {
      $("grade-reason").value = "";
      loadPanel(state.selected);
    }
  });
  $("close-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const code = $("close-code").value;
    const ref = state.detail ? state.detail.reference : "";
    const sure = await confirmAction({
      title: "Close incident?",
      text: `Close ${ref} with ${code}? Units on it will be cleared.`,
      yes: "Close",
    });
    if (!sure) return;
    const ok = await act(() => api("POST", `/api/v1/incidents/${state.selected}/close/`, { closing_code: code }), `${ref} closed`);
    if (ok !== null) {
      announce(`${ref} closed with ${code}`);
      loadPanel(state.selected);
    }
  });
  for (const id of ["f-bcu", "f-grade", "f-status", "u-bcu"]) $(id).addEventListener("change", renderAll);
  if (config.bcu) {
    $("f-bcu").value = "";
    $("u-bcu").value = "";
  }
}

// --- keyboard -------------------------------------------------------------------------------

function moveSelection(step) {
  const rows = [...$("queue-body").children];
  if (!rows.length) return;
  let n = rows.findIndex((r) => Number(r.dataset.id) === state.selected);
  n = n < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, n + step));
  const inQueue = $("queue-body").contains(document.activeElement);
  select(Number(rows[n].dataset.id), { quiet: inQueue });
  if (inQueue) rows[n].focus();
  rows[n].scrollIntoView({ block: "nearest" });
}

// The user's single-key shortcuts (/accounts/preferences/): key -> action, or none at all.
const keyAction = new Map(Object.entries(prefs.keys).map(([action, key]) => [key, action]));

function bindKeys() {
  document.addEventListener("keydown", (e) => {
    alarm.unlock();
    if (e.defaultPrevented) return; // handled where the focus is (the queue grid)
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const action = prefs.shortcuts ? keyAction.get(e.key) : undefined;
    // An open dialog has the keyboard to itself; only the alarm's own shortcut still works.
    if (document.querySelector("dialog[open]")) {
      if (action === "acknowledge" && $("alarm").open) {
        e.preventDefault();
        acknowledgeOldest();
      }
      return;
    }
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (e.key === "Escape") {
      if (typing) document.activeElement.blur();
      return;
    }
    if (typing || !action) return;
    const panelOpen = state.selected !== null;
    const focus = (id) => {
      e.preventDefault();
      if (panelOpen) $(id).focus();
    };
    switch (action) {
      case "next":
        e.preventDefault();
        moveSelection(1);
        break;
      case "previous":
        e.preventDefault();
        moveSelection(-1);
        break;
      case "assign":
        focus("assign-unit");
        break;
      case "status":
        focus("status-value");
        break;
      case "log":
        focus("log-text");
        break;
      case "grade":
        focus("grade-value");
        break;
      case "close":
        focus("close-code");
        break;
      case "acknowledge":
        if (state.emergencies.size) {
          e.preventDefault();
          acknowledgeOldest();
        }
        break;
      case "help":
        e.preventDefault();
        openHelp();
        break;
      default:
        if (action.startsWith("recommend_") && panelOpen) {
          e.preventDefault();
          despatchRecommended(Number(action.slice("recommend_".length)));
        }
    }
  });
  document.addEventListener("click", () => alarm.unlock(), { once: true });
}

// --- keys and settings (the same settings as /accounts/preferences/) ------------------------

function showKeys() {
  document.body.classList.toggle("shortcuts-off", !prefs.shortcuts);
  for (const kbd of document.querySelectorAll("kbd[data-key]")) {
    const key = prefs.keys[kbd.dataset.key];
    kbd.textContent = kbd.dataset.key === "acknowledge" && key === "A" ? "Shift+A" : key;
  }
  const list = $("help-keys");
  for (const el of list.querySelectorAll(".user-key")) el.remove();
  const rows = config.shortcuts.flatMap((s) => [
    h("dt", { class: "user-key" }, h("kbd", {}, prefs.keys[s.action])),
    h("dd", { class: "user-key" }, prefs.shortcuts ? s.does : `${s.does} (shortcuts are off)`),
  ]);
  list.prepend(...rows);
}

let helpBack = null;
function openHelp() {
  helpBack = document.activeElement;
  $("pref-shortcuts").checked = prefs.shortcuts;
  $("pref-confirm").checked = prefs.confirm_despatch;
  $("pref-contrast").checked = prefs.theme === "high_contrast";
  $("pref-status").textContent = "";
  $("help").showModal();
}

async function savePrefs() {
  const wanted = {
    shortcuts: $("pref-shortcuts").checked,
    confirm_despatch: $("pref-confirm").checked,
    theme: $("pref-contrast").checked ? "high_contrast" : "standard",
    keys: prefs.keys,
  };
  try {
    const saved = await api("PUT", "/api/v1/me/preferences/", wanted);
    Object.assign(prefs, saved);
    document.documentElement.dataset.theme = prefs.theme;
    showKeys();
    $("pref-status").textContent = "Saved. These follow you to any desk.";
  } catch (err) {
    $("pref-status").textContent = `Not saved: ${err.message}`;
  }
}

function bindHelp() {
  $("open-help").addEventListener("click", openHelp);
  $("help").addEventListener("close", () => {
    if (helpBack && helpBack.isConnected && helpBack !== document.body) helpBack.focus();
    helpBack = null;
  });
  for (const id of ["pref-shortcuts", "pref-confirm", "pref-contrast"]) $(id).addEventListener("change", savePrefs);
  $("map-facts").addEventListener("toggle", renderMapFacts);
}

// --- live state banner ----------------------------------------------------------------------

function showState(s, detail) {
  const banner = $("live-banner");
  banner.className = `live-banner ${s}`;
  document.body.dataset.live = s;
  if (s === "live") banner.textContent = "Live";
  else if (s === "refused") banner.textContent = `Live updates refused. ${detail}`;
  else if (s === "slow")
    banner.textContent =
      "LIVE UPDATES DOWN — this screen could not keep up with the live feed (a slow or busy " +
      `connection). The board refreshes every few seconds; ${detail}.`;
  else
    banner.textContent =
      "LIVE UPDATES DOWN — the board refreshes every 5 seconds until they return. Reconnecting…";
}

// --- start ----------------------------------------------------------------------------------

initMap();
bindForms();
bindQueue();
bindAlarm();
bindHelp();
bindKeys();
showKeys();
const feed = new LiveFeed({
  wsPath: config.ws_path,
  batch: true, // consecutive events may share a frame (cad/live/consumers.py)
  snapshotUrl: config.snapshot_url,
  onSnapshot: applySnapshot,
  onEvent: applyEvent,
  onState: showState,
});
feed.start();
setInterval(tick, 1000);
window.beaconBoard = { state, feed, alarm, prefs, map }; // for the browser tests and for support staff
