// The call-taker screen. Keyboard first: Tab through fields, Ctrl+Enter saves, Enter never
// submits by accident. The draft lives in sessionStorage so a reload or a crash loses nothing,
// and one Idempotency-Key per draft means a retried save can never create two incidents.

import { day, hoursMinutes } from "./clock.js";

const form = document.getElementById("call-form");
const $ = (id) => document.getElementById(id);
const DRAFT = "beacon.callDraft";
const types = JSON.parse($("types-data").textContent);
const targets = JSON.parse($("targets-data").textContent);
const area = JSON.parse($("area-data").textContent);
const urls = {
  create: form.dataset.createUrl,
  check: form.dataset.checkUrl,
  gazetteer: form.dataset.gazetteerUrl,
  detail: form.dataset.detailUrl,
};

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

async function api(url, { method = "GET", body, key } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = cookie("csrftoken");
  }
  if (key) headers["Idempotency-Key"] = key;
  const response = await fetch(url, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, ok: response.ok, data };
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// --- draft: saved on every keystroke, restored on load -------------------------------------

let state = { key: newKey(), gradeTouched: false };
let dirty = false;

function fields() {
  return [...form.querySelectorAll("input[name], select[name], textarea[name]")];
}

function saveDraft() {
  const values = {};
  for (const el of fields()) {
    if (el.type === "checkbox") {
      (values[el.name] ||= []);
      if (el.checked) values[el.name].push(el.value);
    } else values[el.name] = el.value;
  }
  sessionStorage.setItem(DRAFT, JSON.stringify({ values, state }));
}

function restoreDraft() {
  const raw = sessionStorage.getItem(DRAFT);
  if (!raw) return;
  try {
    const { values, state: saved } = JSON.parse(raw);
    state = { ...state, ...saved };
    for (const el of fields()) {
      if (!(el.name in values)) continue;
      if (el.type === "checkbox") el.checked = values[el.name].includes(el.value);
      else el.value = values[el.name];
    }
    dirty = Object.entries(values).some(([k, v]) => k !== "channel" && (Array.isArray(v) ? v.length : v));
    if ($("f-resolved-address").value) $("f-resolved").textContent = `Located: ${$("f-resolved-address").value}`;
  } catch { sessionStorage.removeItem(DRAFT); }
}

form.addEventListener("input", () => { dirty = true; saveDraft(); });
form.addEventListener("change", () => { dirty = true; saveDraft(); });
window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

// --- incident type and grade -----------------------------------------------------------------

function typeFromInput() {
  const raw = $("f-type").value.trim();
  if (!raw) return null;
  const code = raw.split(/\s+[—-]\s+/)[0].trim().toUpperCase();
  const exact = types.find((t) => t.code.toUpperCase() === code);
  if (exact) return exact;
  const low = raw.toLowerCase();
  const byName = types.filter((t) => t.name.toLowerCase().includes(low) || t.code.toLowerCase().startsWith(low));
  return byName.length === 1 ? byName[0] : null;
}

function showTarget() {
  const type = typeFromInput();
  const grade = $("f-grade").value || (type ? type.default_grade : "");
  const minutes = targets[grade];
  const text = !grade ? "" : grade === "E" ? "Target: by appointment" : grade === "R" ? "Target: none (no attendance)"
    : `Target: attend within ${minutes} min`;
  $("f-target").textContent = text;
  $("f-target").className = `target grade-${grade.toLowerCase()}`;
}

function onType() {
  const type = typeFromInput();
  $("f-type-name").textContent = type ? `${type.code} ${type.name} — default grade ${type.default_grade}` : ($("f-type").value ? "No single type matches yet" : "");
  if (type && !state.gradeTouched) $("f-grade").value = type.default_grade;
  showTarget();
}
$("f-type").addEventListener("input", onType);
$("f-type").addEventListener("change", () => {
  const type = typeFromInput();
  if (type) $("f-type").value = `${type.code} — ${type.name}`;
  onType();
  saveDraft();
});
$("f-grade").addEventListener("change", () => { state.gradeTouched = true; showTarget(); saveDraft(); });

// --- gazetteer autocomplete (ARIA combobox) ------------------------------------------------

const search = $("f-search");
const list = $("f-search-list");
let suggestions = [];
let active = -1;
let searchTimer = null;
let searchSeq = 0;

function closeList() {
  list.hidden = true;
  search.setAttribute("aria-expanded", "false");
  search.removeAttribute("aria-activedescendant");
  active = -1;
}

function renderList() {
  list.innerHTML = suggestions.map((s, i) =>
    `<li id="sug-${i}" role="option" aria-selected="${i === active}" data-i="${i}">${escapeHtml(s.address)}${s.postcode ? `, ${escapeHtml(s.postcode)}` : ""} <span class="hint">${escapeHtml(s.kind)}</span></li>`).join("");
  list.hidden = suggestions.length === 0;
  search.setAttribute("aria-expanded", String(!list.hidden));
  if (active >= 0) search.setAttribute("aria-activedescendant", `sug-${active}`);
}

search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  const q = search.value.trim();
  if (q.length < 2) { suggestions = []; closeList(); return; }
  searchTimer = setTimeout(async () => {
    const mine = ++searchSeq;
    const r = await api(`${urls.gazetteer}?q=${encodeURIComponent(q)}`).catch(() => null);
    if (mine !== searchSeq || !r || !r.ok) return; // a newer query is on its way
    suggestions = r.data; active = suggestions.length ? 0 : -1; renderList();
  }, 120);
});

search.addEventListener("keydown", (e) => {
  if (list.hidden) return;
  if (e.key === "ArrowDown") { active = Math.min(active + 1, suggestions.length - 1); renderList(); e.preventDefault(); }
  else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); renderList(); e.preventDefault(); }
  else if (e.key === "Enter" && !e.ctrlKey && active >= 0) { choose(suggestions[active]); e.preventDefault(); }
  else if (e.key === "Escape") { closeList(); e.preventDefault(); }
});
search.addEventListener("blur", () => setTimeout(closeList, 150));
list.addEventListener("mousedown", (e) => {
  const li = e.target.closest("li[data-i]");
  if (li) { choose(suggestions[Number(li.dataset.i)]); e.preventDefault(); }
});

function choose(entry) {
  // The caller's own words in "address" are never touched: the match is recorded beside them.
  const resolved = entry.address + (entry.postcode ? `, ${entry.postcode}` : "");
  $("f-resolved-address").value = resolved;
  $("f-resolved").textContent = `Located: ${resolved}`;
  search.value = resolved;
  closeList();
  setPosition(entry.lat, entry.lon);
}

// --- position, map pin and the pre-save check ----------------------------------------------

let map = null;
let pin = null;
let checkTimer = null;

function setPosition(lat, lon, { fromMap = false } = {}) {
  $("f-lat").value = Number(lat).toFixed(6);
  $("f-lon").value = Number(lon).toFixed(6);
  if (fromMap) {
    $("f-resolved-address").value = "";
    $("f-resolved").textContent = "Located: map pin";
  }
  placePin();
  saveDraft();
  scheduleCheck();
}

function position() {
  const lat = Number.parseFloat($("f-lat").value);
  const lon = Number.parseFloat($("f-lon").value);
  return Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
}

function placePin() {
  const p = position();
  if (!map || !p) return;
  if (!pin) {
    pin = window.L.marker([p.lat, p.lon], { draggable: true, keyboard: true }).addTo(map);
    pin.on("dragend", () => { const ll = pin.getLatLng(); setPosition(ll.lat, ll.lng, { fromMap: true }); });
  } else pin.setLatLng([p.lat, p.lon]);
  map.setView([p.lat, p.lon], Math.max(map.getZoom(), 16));
}

let duplicateMarkers = null;

function initMap() {
  const el = $("map");
  if (!window.L || el.hidden) return; // no Leaflet: the lat/lon fields do the job
  map = window.L.map(el).fitBounds([[area.min_lat, area.min_lon], [area.max_lat, area.max_lon]]);
  // Tiles only from a configured server (MAP_TILE_URL); without one, as on the board, the
  // borough boundaries, the pin and nearby incidents still show.
  if (el.dataset.tiles) {
    window.L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
  }
  duplicateMarkers = window.L.layerGroup().addTo(map);
  map.on("click", (e) => setPosition(e.latlng.lat, e.latlng.lng, { fromMap: true }));
  fetch(el.dataset.boundaries, { credentials: "same-origin", headers: { "X-Beacon-Background": "1" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((geo) => {
      if (!geo || !geo.features.length) return;
      window.L.geoJSON(geo, {
        style: { color: "#56606b", weight: 1, fillOpacity: 0.04 },
        onEachFeature: (f, l) => l.bindTooltip(`${f.properties.name} (${f.properties.bcu})`),
        interactive: false,
      }).addTo(map).bringToBack();
    })
    .catch(() => {});
}

function showDuplicateMarkers(duplicates) {
  if (!duplicateMarkers) return;
  duplicateMarkers.clearLayers();
  for (const x of duplicates) {
    if (!Number.isFinite(x.lat) || !Number.isFinite(x.lon)) continue;
    window.L.circleMarker([x.lat, x.lon], { radius: 7, color: "#b3261e", weight: 2, fillOpacity: 0.5 })
      .bindTooltip(`${x.reference} ${x.type_name}`)
      .addTo(duplicateMarkers);
  }
}

for (const id of ["f-lat", "f-lon"]) $(id).addEventListener("input", () => { placePin(); scheduleCheck(); });

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(runCheck, 200);
}

let checkSeq = 0;
async function runCheck() {
  const p = position();
  if (!p) return;
  const mine = ++checkSeq;
  const r = await api(`${urls.check}?lat=${p.lat}&lon=${p.lon}`).catch(() => null);
  if (mine !== checkSeq) return;
  if (!r || !r.ok) { $("duplicates").innerHTML = `<li class="error">Check unavailable${r && r.data ? ": " + escapeHtml(JSON.stringify(r.data)) : ""}</li>`; return; }
  const d = r.data;
  showDuplicateMarkers(d.possible_duplicates || []);
  $("dup-rule").textContent = `(${d.radius_m} m, ${d.window_minutes} min)`;
  if (!d.in_force_area) {
    $("duplicates").innerHTML = `<li class="error">This position is outside the force's area.</li>`;
  } else if (!d.possible_duplicates.length) {
    $("duplicates").innerHTML = `<li class="hint">None nearby.</li>`;
  } else {
    $("duplicates").innerHTML = d.possible_duplicates.map((x) => `
      <li class="dup"><a href="${urls.detail}${x.id}/" target="_blank" rel="noopener">${escapeHtml(x.reference)}</a>
        <span class="grade grade-${x.grade.toLowerCase()}">${x.grade}</span> ${escapeHtml(x.type_name)} · ${x.distance_m} m ·
        ${hoursMinutes(x.created_at)}
        <div class="hint">${escapeHtml(x.address)} — ${escapeHtml(x.summary)}</div>
        <button type="button" class="secondary attach" data-id="${x.id}" data-ref="${escapeHtml(x.reference)}">Attach this call to ${escapeHtml(x.reference)}</button></li>`).join("");
  }
  $("warnings").innerHTML = d.warnings.length ? d.warnings.map((w) =>
    `<li class="warning"><strong>${escapeHtml(w.text)}</strong> — ${escapeHtml(w.address)} (${w.distance_m} m)${w.expires_at ? ` · until ${day(w.expires_at)}` : ""}</li>`).join("")
    : `<li class="hint">None.</li>`;
  $("history").innerHTML = d.location_history.length ? d.location_history.map((h) =>
    `<li><a href="${urls.detail}${h.id}/" target="_blank" rel="noopener">${escapeHtml(h.reference)}</a> ${escapeHtml(h.type_name)} · ${escapeHtml(h.status)}${h.closing ? ` (${escapeHtml(h.closing)})` : ""} · ${day(h.created_at)}</li>`).join("")
    : `<li class="hint">Nothing in the last 12 months.</li>`;
}

$("duplicates").addEventListener("click", (e) => {
  const button = e.target.closest("button.attach");
  if (button) attachTo(Number(button.dataset.id), button.dataset.ref);
});

// --- saving ----------------------------------------------------------------------------------

function payload() {
  const type = typeFromInput();
  const thrive = {};
  for (const el of form.querySelectorAll("[data-thrive]")) if (el.value.trim()) thrive[el.dataset.thrive] = el.value;
  const p = position();
  const location = { address: $("f-address").value, resolved_address: $("f-resolved-address").value };
  if (p) Object.assign(location, p);
  const body = {
    type: type ? type.code : $("f-type").value.trim(),
    summary: $("f-summary").value,
    channel: $("f-channel").value,
    location,
    caller: { name: $("f-caller-name").value, phone: $("f-caller-phone").value, updates: $("f-caller-updates").checked },
    thrive,
    qualifiers: [...form.querySelectorAll("input[name=qualifiers]:checked")].map((el) => el.value),
  };
  if ($("f-grade").value) body.grade = $("f-grade").value;
  return body;
}

function flatten(errors, prefix = "") {
  const out = [];
  if (Array.isArray(errors)) {
    if (errors.every((e) => typeof e === "string")) out.push([prefix, errors.join(" ")]);
    else errors.forEach((e) => out.push(...flatten(e, prefix)));
  } else if (errors && typeof errors === "object") {
    for (const [k, v] of Object.entries(errors)) out.push(...flatten(v, prefix ? `${prefix}.${k}` : k));
  } else if (errors) out.push([prefix, String(errors)]);
  return out;
}

function clearErrors() {
  $("errors").hidden = true;
  $("errors").innerHTML = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

function showErrors(data, status) {
  const items = status === 400 ? flatten(data) : [["", (data && data.detail) || `The server answered ${status}.`]];
  $("errors").innerHTML = `<strong>Not saved.</strong><ul>${items.map(([f, m]) => `<li>${f ? `<b>${escapeHtml(f)}</b>: ` : ""}${escapeHtml(m)}</li>`).join("")}</ul>`;
  $("errors").hidden = false;
  let first = null;
  for (const [field] of items) {
    const top = field.split(".")[0];
    const el = form.querySelector(`[data-error-for="${field}"]`) || form.querySelector(`[data-error-for="${top}"]`)
      || form.querySelector(`[data-error-for^="${top}."]`);
    if (el) { el.setAttribute("aria-invalid", "true"); first ||= el; }
  }
  const focusable = first && (first.matches("input, select, textarea") ? first : first.querySelector("input, select, textarea"));
  (focusable || $("f-type")).focus();
}

let saving = false;

async function save() {
  if (saving) return;
  saving = true;
  clearErrors();
  $("f-save").disabled = true;
  try {
    const r = await api(urls.create, { method: "POST", body: payload(), key: state.key });
    if (r.status === 201) done(`Saved <a href="${urls.detail}${r.data.id}/">${escapeHtml(r.data.reference)}</a> · grade ${r.data.grade}${r.data.due_at ? ` · attend by ${hoursMinutes(r.data.due_at)}` : ""}${r.data.possible_duplicates.length ? ` · ${r.data.possible_duplicates.length} possible duplicate(s) nearby` : ""}`, r.data.reference);
    else showErrors(r.data, r.status);
  } catch {
    // Nothing was lost: the draft is still here and the same key makes the retry safe.
    showErrors({ detail: "No connection to the server. Your call is kept; press Ctrl+Enter to try again." }, 0);
  } finally {
    saving = false;
    $("f-save").disabled = false;
  }
}

async function attachTo(id, reference) {
  if (saving) return;
  saving = true;
  clearErrors();
  try {
    const body = {
      caller: { name: $("f-caller-name").value, phone: $("f-caller-phone").value, updates: $("f-caller-updates").checked },
      channel: $("f-channel").value,
      address: $("f-address").value,
      notes: $("f-summary").value,
    };
    const r = await api(`${urls.detail.replace(/^\/incidents\//, "/api/v1/incidents/")}${id}/calls/`, { method: "POST", body, key: state.key });
    if (r.status === 201) done(`Call attached to <a href="${urls.detail}${id}/">${escapeHtml(reference)}</a>`, reference);
    else showErrors(r.data, r.status);
  } catch {
    showErrors({ detail: "No connection to the server. Your call is kept; try again." }, 0);
  } finally {
    saving = false;
  }
}

function done(html, reference) {
  $("saved").innerHTML = html;
  $("saved").dataset.reference = reference;
  $("saved").hidden = false;
  resetForm();
}

function resetForm() {
  form.reset();
  state = { key: newKey(), gradeTouched: false };
  dirty = false;
  sessionStorage.removeItem(DRAFT);
  $("f-resolved").textContent = "";
  $("f-type-name").textContent = "";
  $("f-target").textContent = "";
  $("duplicates").innerHTML = `<li class="hint">Set a location to check.</li>`;
  $("warnings").innerHTML = $("history").innerHTML = `<li class="hint">—</li>`;
  if (pin) { pin.remove(); pin = null; }
  $("f-channel").focus();
}

form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
form.addEventListener("keydown", (e) => {
  // Enter in a one-line field must not save a half-taken call; only Ctrl+Enter (or the button).
  if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && e.target.matches("input") && e.target.type !== "checkbox") e.preventDefault();
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); }
});
$("f-clear").addEventListener("click", () => {
  if (!dirty || window.confirm("Clear this call? What you typed will be lost.")) resetForm();
});

restoreDraft();
initMap();
onType();
if (position()) { placePin(); runCheck(); }
$("f-channel").focus();
