// The replay page (/replay/): the board at any moment, a slider over the last 24 hours,
// playback at 1×–60×, stepping event by event, and who did what around the moment.
// Every board comes from GET /api/v1/board/at/ (rebuilt on the server from the event log);
// nothing is folded here, so what the page shows is what the API answers.

import { dayAndTime } from "./clock.js";

const config = JSON.parse(document.getElementById("replay-config").textContent);
const $ = (id) => document.getElementById(id);

const start = new Date(config.start).getTime();
let end = new Date(config.end).getTime();
const AUDIT_WINDOW_MS = 15 * 60 * 1000;
const AUDIT_EVERY_TICKS = 15;

const state = { moment: end, seq: null, previous: null, next: null, timer: null, ticks: 0, queued: null,
  loading: false };

function iso(ms) {
  return new Date(ms).toISOString();
}

// Shown on London's clock with its zone ("03/12/2026, 05:21:34 GMT"), as a control room reads
// times and as the "Go to" box takes them; the API answers in UTC.
function london(isoText) {
  return dayAndTime(isoText, { zoneName: true });
}

function showError(messages) {
  const list = $("replay-error");
  list.replaceChildren(...messages.map((m) => cell("li", m)));
  list.hidden = messages.length === 0;
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text == null ? "" : String(text);
  return el;
}

function row(values) {
  const tr = document.createElement("tr");
  tr.append(...values.map((v) => cell("td", v)));
  return tr;
}

function fieldErrors(body) {
  if (!body || typeof body !== "object") return ["The server refused the request."];
  const out = [];
  for (const [field, messages] of Object.entries(body.errors || body)) {
    for (const m of [].concat(messages)) out.push(`${field}: ${typeof m === "string" ? m : JSON.stringify(m)}`);
  }
  return out.length ? out : ["The server refused the request."];
}

async function getJson(url, params) {
  const query = new URLSearchParams(params);
  const response = await fetch(`${url}?${query}`, { credentials: "same-origin",
    headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw fieldErrors(body);
  return body;
}

function position(p) {
  return p ? `${Number(p.lat).toFixed(4)}, ${Number(p.lon).toFixed(4)}` : "";
}

function drawBoard(board) {
  $("replay-queue").replaceChildren(...board.incidents.map((i) =>
    row([i.reference, i.grade, i.status, i.type, i.address, i.bcu])));
  $("replay-units").replaceChildren(...board.units.map((u) =>
    row([u.callsign + (u.emergency ? " (EMERGENCY)" : ""), u.status, u.incident ?? "",
      position(u.position), u.bcu])));
  $("replay-queue-count").textContent = `(${board.incidents.length})`;
  $("replay-units-count").textContent = `(${board.units.length})`;
  const eventAt = board.at ? ` · after event #${board.seq} at ${london(board.at)}` : " · before any event";
  $("replay-moment").textContent = `Board at ${london(board.t)}${eventAt}`;
  $("replay-back").disabled = board.previous == null;
  $("replay-next").disabled = board.next == null;
}

async function drawEvents(moment) {
  const body = await getJson(config.timeline_url, { from: iso(moment - AUDIT_WINDOW_MS),
    to: iso(moment), ...(config.bcu ? { bcu: config.bcu } : {}) });
  const items = body.events.slice(-50).reverse().map((e) => {
    const li = cell("li", `${london(e.at)} #${e.seq} ${e.type} ${e.label}`);
    if (e.seq === state.seq) li.setAttribute("aria-current", "true");
    return li;
  });
  $("replay-events").replaceChildren(...items);
}

async function drawAudit(moment) {
  const body = await getJson(config.audit_url, { from: iso(moment - AUDIT_WINDOW_MS), to: iso(moment) });
  $("replay-audit").replaceChildren(...body.results.map((r) =>
    row([london(r.at), r.user || "(system)", r.action,
      `${r.object_type}${r.object_id ? ` #${r.object_id}` : ""} ${r.object_repr || ""}`])));
}

// The map: redrawn whole for each moment (a replayed board changes in jumps, not moves).
// Tiles only when a tile server is configured; markers show either way.
const map = { layer: null };
if (window.L && $("replay-map")) {
  const m = L.map("replay-map").setView([51.5072, -0.1276], 10);
  if (config.tile_url) L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(m);
  map.layer = L.layerGroup().addTo(m);
}

function marker(lat, lon, className, label) {
  const html = cell("span", label); // text, never markup: call signs are typed into the admin
  return L.marker([lat, lon], { keyboard: false, icon: L.divIcon({ html, className, iconSize: null }) });
}

function drawMap(board) {
  if (!map.layer) return;
  map.layer.clearLayers();
  for (const i of board.incidents) {
    if (i.lat != null) marker(i.lat, i.lon, `rp-inc grade-${i.grade}`, i.grade).addTo(map.layer);
  }
  for (const u of board.units) {
    if (u.position) marker(u.position.lat, u.position.lon, `rp-unit${u.emergency ? " rp-emergency" : ""}`, u.callsign).addTo(map.layer);
  }
}

function sliderTo(moment) {
  const span = Math.max(end - start, 1);
  $("replay-slider").value = String(Math.round(((moment - start) / span) * 1000));
}

// Show one moment: by time (`t`) or just after an event (`seq`). `logs`: refresh the event
// list and the audit rows too (not on every playback tick: each audit search is recorded).
async function show(params, { logs = true } = {}) {
  // One load at a time; a press made meanwhile (a step back, the slider) is kept, the latest
  // only, and shown when the load in flight ends: never dropped.
  if (state.loading) {
    state.queued = [params, { logs }];
    return;
  }
  state.loading = true;
  try {
    const board = await getJson(config.board_at_url, { ...params, ...(config.bcu ? { bcu: config.bcu } : {}) });
    state.seq = board.seq;
    state.previous = board.previous;
    state.next = board.next;
    // The server's reading of a typed time (a time without an offset is London's), not the
    // browser's, whose own zone may be another.
    if (params.t) state.moment = new Date(board.t).getTime();
    else if (board.at) state.moment = new Date(board.at).getTime();
    sliderTo(state.moment);
    drawBoard(board);
    drawMap(board);
    showError([]);
    if (logs) await Promise.all([drawEvents(state.moment), drawAudit(state.moment)]);
  } catch (errors) {
    showError(Array.isArray(errors) ? errors : [String(errors)]);
    stop();
  } finally {
    state.loading = false;
    const queued = state.queued;
    state.queued = null;
    if (queued) show(...queued);
  }
}

function stop() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  $("replay-play").textContent = "Play";
  $("replay-play").setAttribute("aria-pressed", "false");
}

function play() {
  const speed = Number($("replay-speed").value) || 1;
  state.ticks = 0;
  $("replay-play").textContent = "Pause";
  $("replay-play").setAttribute("aria-pressed", "true");
  state.timer = setInterval(() => {
    const now = Date.now() - 1000;
    end = Math.max(end, now);
    state.moment = Math.min(state.moment + speed * 1000, now);
    state.ticks += 1;
    const logs = state.ticks % AUDIT_EVERY_TICKS === 0;
    show({ t: iso(state.moment) }, { logs });
    if (state.moment >= now) stop();
  }, 1000);
}

$("replay-play").addEventListener("click", () => {
  if (state.timer) {
    stop();
    show({ t: iso(state.moment) });
  } else {
    play();
  }
});
$("replay-speed").addEventListener("change", () => {
  if (state.timer) {
    stop();
    play();
  }
});
$("replay-back").addEventListener("click", () => state.previous != null && show({ seq: state.previous }));
$("replay-next").addEventListener("click", () => state.next != null && show({ seq: state.next }));
let sliding = null;
$("replay-slider").addEventListener("input", (event) => {
  stop();
  const moment = start + (Number(event.target.value) / 1000) * (end - start);
  clearTimeout(sliding);
  // Wait for the hand to rest: one rebuild per position reached, not per pixel passed.
  sliding = setTimeout(() => show({ t: iso(Math.min(moment, Date.now() - 1000)) }), 250);
});
$("replay-controls").addEventListener("submit", (event) => {
  event.preventDefault();
  stop();
  const text = $("replay-time").value.trim();
  if (text) show({ t: text });
});
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
  if (event.key === "ArrowLeft" && state.previous != null) show({ seq: state.previous });
  if (event.key === "ArrowRight" && state.next != null) show({ seq: state.next });
});

show({ t: config.moment || iso(Math.min(end, Date.now() - 1000)) });
