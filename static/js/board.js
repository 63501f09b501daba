// The despatch board: incident queue, unit board, map and incident panel, kept live.
// Reads come from the socket (live.js); every command goes through the REST API, and the
// socket then tells every desk (this one included) what changed.
// All text from the server is inserted with textContent, never as HTML.

import { LiveFeed } from "./live.js";
import * as alarm from "./alarm.js";

const config = JSON.parse(document.getElementById("board-config").textContent);
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
};

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
  return iso ? new Date(iso).toLocaleTimeString("en-GB", { hour12: false }) : "";
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
  renderAll();
  if (state.selected !== null) loadPanel(state.selected);
}

function applyEvent(msg) {
  const d = msg.data;
  switch (msg.type) {
    case "incident.created":
    case "incident.updated":
      state.incidents.set(d.id, d);
      break;
    case "incident.closed":
      state.incidents.delete(d.id);
      break;
    case "unit.updated":
    case "unit.emergency":
      state.units.set(d.callsign, d);
      if (d.emergency) state.emergencies.set(d.callsign, d);
      else state.emergencies.delete(d.callsign);
      break;
    case "recommendations.ready":
      if (d.incident === state.selected) loadRecommendations(state.selected);
      return;
    case "radio.undelivered":
      state.undelivered.set(d.message, d);
      renderUndelivered();
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

function renderAll() {
  renderQueue();
  renderUnits();
  renderMap();
  renderAlarm();
  tick();
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

function renderQueue() {
  const rows = visibleIncidents();
  const body = $("queue-body");
  body.replaceChildren(
    ...rows.map((i) => {
      const units = unitsOn(i.id);
      return h(
        "tr",
        {
          class: `inc grade-${i.grade} st-${i.status}${i.id === state.selected ? " selected" : ""}`,
          dataset: { id: i.id, due: i.due_at || "", status: i.status },
          tabindex: "-1",
          onclick: () => select(i.id),
        },
        h("td", { class: "grade" }, i.grade),
        h("td", { class: "ref" }, i.reference),
        h("td", {}, i.type_name || i.type),
        h("td", { class: "addr" }, i.location.address || `${i.location.lat.toFixed(4)}, ${i.location.lon.toFixed(4)}`),
        h("td", {}, i.location.bcu || "—"),
        h("td", { class: "status" }, i.status.replace("_", " ")),
        h("td", { class: "on" }, units.map((u) => u.callsign).join(" ")),
        h("td", { class: "countdown" }, ""),
      );
    }),
  );
  $("queue-empty").hidden = rows.length > 0;
  $("queue-count").textContent = `${rows.length}`;
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
  const units = [...state.units.values()].filter((u) => !bcu || u.bcu === bcu);
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
const GRADE_COLOUR = { I: "#b00020", S: "#a15c00", E: "#0b4f9c", R: "#555" };
const STATUS_COLOUR = {
  available: "#1a7f37", assigned: "#0b4f9c", en_route: "#6f42c1", at_scene: "#a15c00",
  unavailable: "#777", off_duty: "#bbb",
};

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
          weight: f.properties.bcu === config.bcu ? 2.5 : 1,
          fillOpacity: 0.04,
        }),
        onEachFeature: (f, l) => l.bindTooltip(`${f.properties.name} (${f.properties.bcu})`),
      }).addTo(m);
      layer.bringToBack();
      const own = geo.features.filter((f) => f.properties.bcu === config.bcu);
      m.fitBounds((own.length ? L.geoJSON({ type: "FeatureCollection", features: own }) : layer).getBounds());
    })
    .catch(() => {});
}

// Markers are kept and updated in place: a busy board redraws often, and rebuilding
// thousands of markers on every event would stall the page.
function syncMarkers(layer, index, items, key, latlng, style, tooltip, onClick) {
  const seen = new Set();
  for (const item of items) {
    const k = key(item);
    const pos = latlng(item);
    if (!pos) continue;
    seen.add(k);
    let marker = index.get(k);
    if (!marker) {
      marker = L.circleMarker(pos, style(item)).bindTooltip("").addTo(layer);
      if (onClick) marker.on("click", () => onClick(item.id ?? k));
      index.set(k, marker);
    } else {
      marker.setLatLng(pos);
      marker.setStyle(style(item));
      marker.setRadius(style(item).radius);
    }
    marker.setTooltipContent(tooltip(item));
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
    (i) => ({
      radius: i.id === state.selected ? 11 : 8, color: "#000", weight: i.id === state.selected ? 3 : 1,
      fillColor: GRADE_COLOUR[i.grade], fillOpacity: 0.9, className: `m-incident m-inc-${i.id}`,
    }),
    (i) => `${i.reference} ${i.grade} ${i.type_name || i.type}`,
    (id) => select(id),
  );
  const bcu = $("u-bcu").value;
  syncMarkers(
    map.units, map.unitIndex,
    [...state.units.values()].filter((u) => u.status !== "off_duty" && (!bcu || u.bcu === bcu)),
    (u) => u.callsign,
    (u) => (u.position ? [u.position.lat, u.position.lon] : null),
    (u) => ({
      radius: u.emergency ? 9 : 5, color: u.emergency ? "#ff0000" : "#fff", weight: u.emergency ? 4 : 1,
      fillColor: STATUS_COLOUR[u.status] || "#333", fillOpacity: 1, className: "m-unit",
    }),
    (u) => `${u.callsign} ${STATUS_LABEL[u.status] || u.status}`,
    null,
  );
}

// --- the emergency alarm --------------------------------------------------------------------

function renderAlarm() {
  const box = $("alarm");
  const list = [...state.emergencies.values()].sort((a, b) =>
    (a.emergency_at || "").localeCompare(b.emergency_at || ""),
  );
  if (!list.length) {
    box.hidden = true;
    document.body.classList.remove("in-emergency");
    alarm.stop();
    return;
  }
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
        h("button", { type: "button", class: "ack", onclick: () => acknowledge(u.callsign) }, `Acknowledge ${u.callsign}`),
      ),
    ),
  );
  box.hidden = false;
  document.body.classList.add("in-emergency");
  alarm.start();
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

async function acknowledge(callsign) {
  try {
    await api("POST", `/api/v1/units/${encodeURIComponent(callsign)}/emergency/acknowledge/`);
    state.emergencies.delete(callsign); // the event confirms it for every other desk
    renderAlarm();
  } catch (err) {
    if (err.status === 409) {
      state.emergencies.delete(callsign); // someone else took it first
      renderAlarm();
    } else flash(err.message);
  }
}

// --- the incident panel ---------------------------------------------------------------------

function select(id) {
  state.selected = id;
  state.recs = [];
  $("panel-empty").hidden = true;
  $("panel-body").hidden = false;
  for (const row of $("queue-body").children) row.classList.toggle("selected", Number(row.dataset.id) === id);
  renderMap();
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

async function loadRecommendations(id) {
  const box = $("recommendations");
  try {
    const r = await fetch(`/api/v1/incidents/${id}/recommendations/`, {
      credentials: "same-origin",
      // Also refetched when a recommendation event arrives: not user activity.
      headers: { Accept: "application/json", "X-Beacon-Background": "1" },
    });
    // Recommendations are optional: if the endpoint is missing or fails, show nothing.
    if (!r.ok || id !== state.selected) {
      if (id === state.selected) box.hidden = true;
      return;
    }
    const data = await r.json();
    state.recs = (data.results || []).slice(0, 5).map((x) => x.unit);
    $("rec-list").replaceChildren(
      ...(data.results || []).slice(0, 5).map((x, n) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "secondary", onclick: () => assign(x.unit) }, `${n + 1}`),
          " ",
          h("b", {}, x.unit),
          ` ${Math.round((x.eta_seconds || 0) / 60)} min · ${((x.distance_m || 0) / 1000).toFixed(1)} km`,
          x.reasons && x.reasons.length ? h("small", {}, ` — ${x.reasons.join("; ")}`) : "",
        ),
      ),
    );
    box.hidden = state.recs.length === 0;
  } catch {
    box.hidden = true;
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
  if (detail && id === state.selected) {
    state.detail = detail;
    $("assign-unit").value = "";
    renderPanel();
  }
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
    if (!confirm(`Close ${ref} with ${code}? Units on it will be cleared.`)) return;
    const ok = await act(() => api("POST", `/api/v1/incidents/${state.selected}/close/`, { closing_code: code }), `${ref} closed`);
    if (ok !== null) loadPanel(state.selected);
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
  select(Number(rows[n].dataset.id));
  rows[n].scrollIntoView({ block: "nearest" });
}

function bindKeys() {
  document.addEventListener("keydown", (e) => {
    alarm.unlock();
    if (e.key === "A" && e.shiftKey && state.emergencies.size) {
      e.preventDefault();
      const oldest = [...state.emergencies.values()].sort((a, b) =>
        (a.emergency_at || "").localeCompare(b.emergency_at || ""),
      )[0];
      acknowledge(oldest.callsign);
      return;
    }
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
    if (e.key === "Escape") {
      if (typing) document.activeElement.blur();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const panelOpen = state.selected !== null;
    const focus = (id) => {
      e.preventDefault();
      if (panelOpen) $(id).focus();
    };
    switch (e.key) {
      case "j":
      case "ArrowDown":
        e.preventDefault();
        moveSelection(1);
        break;
      case "k":
      case "ArrowUp":
        e.preventDefault();
        moveSelection(-1);
        break;
      case "Enter":
        if (state.selected !== null) loadPanel(state.selected);
        break;
      case "a":
        focus("assign-unit");
        break;
      case "s":
        focus("status-value");
        break;
      case "l":
        focus("log-text");
        break;
      case "g":
        focus("grade-value");
        break;
      case "c":
        focus("close-code");
        break;
      case "?":
        $("help").showModal();
        break;
      default:
        if (/^[1-5]$/.test(e.key) && panelOpen && state.recs[Number(e.key) - 1]) {
          e.preventDefault();
          assign(state.recs[Number(e.key) - 1]);
        }
    }
  });
  document.addEventListener("click", () => alarm.unlock(), { once: true });
}

// --- live state banner ----------------------------------------------------------------------

function showState(s, detail) {
  const banner = $("live-banner");
  banner.className = `live-banner ${s}`;
  document.body.dataset.live = s;
  if (s === "live") banner.textContent = "Live";
  else if (s === "refused") banner.textContent = `Live updates refused. ${detail}`;
  else
    banner.textContent =
      "LIVE UPDATES DOWN — the board refreshes every 5 seconds until they return. Reconnecting…";
}

// --- start ----------------------------------------------------------------------------------

initMap();
bindForms();
bindKeys();
const feed = new LiveFeed({
  wsPath: config.ws_path,
  snapshotUrl: config.snapshot_url,
  onSnapshot: applySnapshot,
  onEvent: applyEvent,
  onState: showState,
});
feed.start();
setInterval(tick, 1000);
window.beaconBoard = { state, feed, alarm }; // for the browser tests and for support staff
