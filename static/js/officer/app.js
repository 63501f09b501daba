// The officer's phone (/m/): my unit, my job, status buttons, the emergency button, this
// shift's jobs; live through /ws/officer/ and usable without signal (docs/officer-app.md).
// Reads come over the API (the service worker keeps the last answer for when there is no
// signal); every press goes through the queue (queue.js), online or not, so there is one path.

import { enqueue, flush, load } from "./queue.js";
import { OfficerSocket } from "./socket.js";
import { hoursMinutes } from "../clock.js";

const config = JSON.parse(document.getElementById("officer-config").textContent);
const $ = (id) => document.getElementById(id);
const LABELS = { en_route: "En route", at_scene: "At scene", available: "Available",
  unavailable: "Unavailable", assigned: "Assigned", off_duty: "Off duty" };
const HOLD_MS = 2000;

const state = { me: null, job: null, despatchFor: null, conn: "connecting", signedOut: false };
let map = null;
let marker = null;
let buzzer = null;

function csrf() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function username() {
  // Presses are kept per account: another officer signing in on this phone does not send them.
  return state.me ? state.me.username : localStorage.getItem("beacon.officer.user");
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 403 && /not linked|officers' view/.test(body.detail || "")) {
      // Signed in, but not as a roster officer: say so rather than "signed out".
      showMessage(body.detail);
      return { status: response.status, body: null };
    }
    setSignedOut(true);
    return { status: response.status, body: null };
  }
  setSignedOut(false);
  return { status: response.status, body: response.status === 200 ? await response.json() : null };
}

// --- what is on the screen ------------------------------------------------------------------

function text(el, value) {
  el.textContent = value == null ? "" : String(value);
}

function list(el, items, render) {
  el.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    text(li, render(item));
    return li;
  }));
}

function time(iso) {
  return hoursMinutes(iso);
}

function showMessage(message) {
  const el = $("o-message");
  text(el, message);
  el.hidden = !message;
}

function renderConnection() {
  const el = $("o-conn");
  el.classList.toggle("offline", state.conn !== "live");
  el.classList.toggle("signed-out", state.signedOut);
  if (state.signedOut) {
    el.replaceChildren("Signed out: presses are kept until you ");
    const link = document.createElement("a");
    link.href = `${config.login_url}?next=${encodeURIComponent(location.pathname)}`;
    text(link, "sign in again");
    el.append(link, ".");
  } else if (state.conn === "live") {
    text(el, "Live");
  } else if (state.conn === "refused") {
    text(el, "This account is not an officer's: the phone app is not available.");
  } else {
    text(el, "OFFLINE: no signal. What you see may be old; presses are kept and sent when back.");
  }
  const waiting = load();
  const queueEl = $("o-queue");
  queueEl.hidden = waiting.length === 0;
  text(queueEl, waiting.length
    ? `Waiting to send (${waiting.length}): ` + waiting.map((p) => `${p.label} ${time(p.body.at)}`).join(", ")
    : "");
}

function setSignedOut(value) {
  if (state.signedOut !== value) {
    state.signedOut = value;
    renderConnection();
  }
}

function renderUnit() {
  const unit = state.me && state.me.unit;
  text($("o-callsign"), unit ? unit.callsign : "Beacon");
  text($("o-status-now"), unit ? LABELS[unit.status] || unit.status : "");
  $("o-unit-none").hidden = Boolean(unit);
  list($("o-crew"), unit ? unit.crew : [], (c) => `${c.rank} ${c.collar_number} ${c.name}`);
  const next = new Set(unit ? unit.next_statuses : []);
  for (const button of document.querySelectorAll(".o-status[data-status]")) {
    const status = button.dataset.status;
    button.disabled = !next.has(status);
    button.classList.toggle("current", Boolean(unit) && unit.status === status);
    button.setAttribute("aria-pressed", String(Boolean(unit) && unit.status === status));
  }
  $("o-speak").disabled = !unit;
  $("o-emergency").disabled = !unit;
  $("o-emergency").classList.toggle("raised", Boolean(unit && unit.emergency));
}

function renderJob() {
  const job = state.job;
  $("o-job").hidden = !job;
  if (!job) return;
  text($("o-job-ref"), job.reference);
  const grade = $("o-job-grade");
  text(grade, job.grade);
  grade.className = `o-grade g-${job.grade}`;
  text($("o-job-type"), job.type_name || job.type);
  text($("o-job-summary"), job.summary);
  const where = job.location || {};
  text($("o-job-address"), where.address);
  const nav = $("o-navigate");
  nav.hidden = where.lat == null;
  if (where.lat != null) {
    nav.href = `geo:${where.lat},${where.lon}?q=${where.lat},${where.lon}(${encodeURIComponent(where.address || job.reference)})`;
  }
  $("o-warnings").replaceChildren(...(job.warnings || []).map((w) => {
    const p = document.createElement("p");
    text(p, `WARNING ${w.address}: ${w.text}`);
    return p;
  }));
  list($("o-log"), (job.log || []).slice(-10).reverse(), (e) => `${time(e.at)} ${e.text}`);
  list($("o-linked"), job.linked || [], (l) => `${l.reference} (${l.status})`);
  list($("o-history"), job.location_history || [], (h) => `${h.reference} ${h.type_name || h.type} ${h.created_at.slice(0, 10)}`);
  $("o-callback").hidden = !job.callback_allowed;
  $("o-callback-number").hidden = true;
  drawMap(where);
}

function drawMap(where) {
  if (!window.L || where.lat == null) return;
  if (!map) {
    map = window.L.map("o-map", { zoomControl: false, attributionControl: Boolean(config.tile_attribution) });
    if (config.tile_url) {
      window.L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.tile_attribution || "" }).addTo(map);
    }
  }
  map.setView([where.lat, where.lon], 16);
  if (marker) marker.remove();
  marker = window.L.circleMarker([where.lat, where.lon], { radius: 10, color: "#d4351c", fillOpacity: 0.9 }).addTo(map);
}

function renderJobs(jobs) {
  list($("o-jobs"), jobs, (j) => `${time(j.assigned_at)} ${j.reference} ${j.grade} ${j.type_name || j.type}${j.cleared_at ? " (cleared)" : ""}`);
}

// --- a new job fills the screen until acknowledged -------------------------------------------

function showDespatch(job) {
  state.despatchFor = job.id;
  text($("o-despatch-ref"), `${job.reference} · grade ${job.grade}`);
  text($("o-despatch-what"), `${job.type_name || job.type}: ${job.summary}`);
  text($("o-despatch-where"), (job.location || {}).address);
  const dialog = $("o-despatch");
  if (!dialog.open) dialog.showModal();
  clearInterval(buzzer);
  const buzz = () => navigator.vibrate && navigator.vibrate([600, 200, 600]);
  buzz();
  buzzer = setInterval(buzz, 2500);
}

function hideDespatch() {
  clearInterval(buzzer);
  buzzer = null;
  if (navigator.vibrate) navigator.vibrate(0);
  const dialog = $("o-despatch");
  if (dialog.open) dialog.close();
}

// --- reading --------------------------------------------------------------------------------

async function refresh() {
  try {
    const me = await getJSON(config.me_url);
    if (me.body) {
      state.me = me.body;
      localStorage.setItem("beacon.officer.user", me.body.username);
      renderUnit();
    }
    await refreshJob();
    const jobs = await getJSON(config.jobs_url);
    if (jobs.body) renderJobs(jobs.body.results);
  } catch {
    state.conn = "offline";
  }
  renderConnection();
  sendQueued();
}

async function refreshJob() {
  const job = await getJSON(config.job_url);
  if (job.status === 204) {
    state.job = null;
    hideDespatch();
  } else if (job.body) {
    state.job = job.body;
    const mine = job.body.my_assignment;
    const acked = (mine && mine.acknowledged_at) || queuedAck(job.body.id);
    if (!acked && state.despatchFor !== job.body.id) showDespatch(job.body);
    if (acked) hideDespatch();
  }
  renderJob();
}

function queuedAck(incident) {
  return load().some((p) => p.url === ackUrl(incident));
}

// --- pressing -------------------------------------------------------------------------------

function ackUrl(incident) {
  return `${config.incident_url}${incident}/acknowledge/`;
}

function press(url, body, label) {
  const user = username();
  if (!user) {
    showMessage("Sign in first: this phone does not know who you are yet.");
    return;
  }
  enqueue({ user, url, body: { ...body, at: new Date().toISOString() }, label });
  const unit = state.me && state.me.unit;
  if (url === config.status_url && unit) {
    // Shown at once, with signal or not; the server's answer (or a refusal) corrects it.
    unit.status = body.status;
    unit.next_statuses = (unit.transitions[body.status] || []).filter(
      (s) => unit.incident !== null || (s !== "en_route" && s !== "at_scene"));
    renderUnit();
  }
  renderConnection();
  sendQueued();
}

async function send(p) {
  const response = await fetch(p.url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json",
      "X-CSRFToken": csrf(), "Idempotency-Key": p.key },
    body: JSON.stringify(p.body),
  });
  if (response.ok) {
    const body = await response.json();
    if (body && body.callsign && state.me && state.me.unit && body.status) {
      Object.assign(state.me.unit, { status: body.status, emergency: body.emergency });
    }
    return "done";
  }
  if (response.status === 401) return "signed-out";
  if (response.status === 403) {
    // Signed out (or a stale CSRF cookie) keeps the press; a refusal of this press drops it.
    const check = await fetch(config.me_url, { credentials: "same-origin" });
    if (!check.ok) return "signed-out";
  }
  if (response.status >= 500 || response.status === 429) return "retry";
  let detail = `${response.status}`;
  try {
    const body = await response.json();
    detail = body.detail || Object.values(body).flat().join(" ") || detail;
  } catch { /* not JSON */ }
  showMessage(`Not applied: ${p.label} at ${time(p.body.at)}: ${detail}`);
  return "done";
}

async function sendQueued() {
  const user = username();
  if (!user) return;
  const outcome = await flush(send, user);
  if (outcome === "offline" || outcome === "retry") state.conn = "offline";
  if (outcome === "signed-out") setSignedOut(true);
  renderConnection();
  if (outcome === "empty") {
    // What the server now holds (a stale press changed nothing, say).
    const me = await getJSON(config.me_url).catch(() => ({}));
    if (me.body) {
      state.me = me.body;
      renderUnit();
    }
  }
}

function wireButtons() {
  for (const button of document.querySelectorAll(".o-status[data-status]")) {
    button.addEventListener("click", () => {
      const status = button.dataset.status;
      if (status === "unavailable") {
        $("o-reason").hidden = false;
        $("o-reason-text").focus();
        return;
      }
      press(config.status_url, { status }, LABELS[status]);
    });
  }
  $("o-reason").addEventListener("submit", (e) => {
    e.preventDefault();
    $("o-reason").hidden = true;
    press(config.status_url, { status: "unavailable", reason: $("o-reason-text").value }, "Unavailable");
  });
  $("o-speak").addEventListener("click", () => press(config.speak_url, {}, "Request to speak"));
  $("o-ack").addEventListener("click", () => {
    if (state.despatchFor) press(ackUrl(state.despatchFor), {}, "Acknowledge");
    hideDespatch();
  });
  $("o-callback").addEventListener("click", async () => {
    if (!state.job) return;
    const answer = await getJSON(`${config.incident_url}${state.job.id}/callback/`).catch(() => ({}));
    const link = $("o-callback-number");
    if (answer.body && answer.body.phone) {
      link.href = `tel:${answer.body.phone.replace(/[^0-9+]/g, "")}`;
      text(link, `Call ${answer.body.phone}`);
      link.hidden = false;
    } else {
      showMessage("The call-back number is not available.");
    }
  });
  wireEmergency($("o-emergency"));
  document.querySelector(".o-logout").addEventListener("submit", () => {
    // Personal data leaves the phone with the officer; the presses stay (they are theirs).
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "signed-out" });
    }
  });
}

// Held, not tapped: a pocket or a glove must not raise the alarm.
function wireEmergency(button) {
  let timer = null;
  const start = (e) => {
    if (button.disabled || timer) return;
    e.preventDefault();
    button.classList.add("holding");
    timer = setTimeout(() => {
      timer = null;
      button.classList.remove("holding");
      if (navigator.vibrate) navigator.vibrate(400);
      press(config.emergency_url, {}, "EMERGENCY");
    }, HOLD_MS);
  };
  const stop = () => {
    clearTimeout(timer);
    timer = null;
    button.classList.remove("holding");
  };
  button.addEventListener("pointerdown", start);
  for (const name of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(name, stop);
  button.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && !e.repeat) start(e);
  });
  button.addEventListener("keyup", stop);
  button.addEventListener("contextmenu", (e) => e.preventDefault());
}

// --- live -----------------------------------------------------------------------------------

function onEvent(message) {
  const data = message.data;
  const unit = state.me && state.me.unit;
  if (message.type.startsWith("unit.") && unit && data.callsign === unit.callsign) {
    const before = unit.incident;
    Object.assign(unit, { status: data.status, incident: data.incident, emergency: data.emergency, job: data.job });
    // The graph decides the buttons: ask the server rather than guess.
    getJSON(config.me_url).then((me) => {
      if (me.body) {
        state.me = me.body;
        renderUnit();
      }
    });
    renderUnit();
    if (data.incident !== before) refresh();
  } else if (message.type.startsWith("incident.") && state.job && data.id === state.job.id) {
    refreshJob();
  }
}

function onState(conn) {
  if (conn === "signed-out") {
    setSignedOut(true);
  } else {
    state.conn = conn;
  }
  renderConnection();
}

function start() {
  wireButtons();
  renderConnection();
  window.addEventListener("online", () => sendQueued());
  window.addEventListener("offline", () => {
    state.conn = "offline";
    renderConnection();
  });
  setInterval(() => sendQueued(), 15000);
  new OfficerSocket(config.socket_path, { onEvent, onSnapshot: () => refresh(), onState }).open();
  refresh();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(config.sw_url, { scope: "/m/" }).catch(() => {});
  }
}

start();
