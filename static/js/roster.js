// Roster editing: arrow keys move between cells, a letter or the select sets the shift, and a
// rule's message shows inline. No dependencies; writes go through the duties API.

const table = document.getElementById("roster");
const message = document.getElementById("roster-message");
const kindSelect = document.getElementById("roster-kind");
const reasonInput = document.getElementById("roster-reason");
const applyButton = document.getElementById("roster-apply");
const overrideButton = document.getElementById("roster-override");

const KEYS = { e: "early", l: "late", n: "night", r: "rest", a: "leave", t: "training", c: "court", s: "sick" };
const CODES = { early: "E", late: "L", night: "N", other: "O", rest: "RD", leave: "AL", training: "TR", court: "CT", sick: "SK", "": "·" };

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch { data = {}; }
  return { ok: response.ok, status: response.status, data };
}

function say(text, kind) {
  if (!message) return;
  message.textContent = text;
  message.className = `roster-message ${kind || ""}`;
}

function fieldErrors(data) {
  return Object.entries(data).map(([field, errs]) => `${field}: ${[].concat(errs).join(" ")}`).join("; ");
}

let current = null;   // the focused cell
let pending = null;   // {cell, kind} refused with an overridable rule

function dateOf(cell) {
  return table.tHead.rows[0].cells[cell.cellIndex].dataset.date;
}

function focusCell(cell) {
  if (!cell || !cell.classList.contains("c")) return;
  if (current) { current.tabIndex = -1; current.classList.remove("cur"); }
  current = cell;
  cell.tabIndex = 0;
  cell.classList.add("cur");
  cell.focus();
  const row = cell.parentElement;
  const name = row.querySelector(".name").textContent;
  cell.setAttribute("aria-label", `${name}, ${dateOf(cell)}: ${cell.dataset.kind || "not rostered"}`);
}

function move(cell, dRow, dCol) {
  const row = cell.parentElement;
  const rows = table.tBodies[0].rows;
  const r = Math.min(Math.max(row.sectionRowIndex + dRow, 0), rows.length - 1);
  const target = rows[r].cells[Math.min(Math.max(cell.cellIndex + dCol, 1), rows[r].cells.length - 1)];
  focusCell(target);
}

async function refreshStrength(date) {
  const params = new URLSearchParams({ bcu: table.dataset.bcu, from: date, to: date });
  if (table.dataset.team) params.set("team", table.dataset.team);
  const { ok, data } = await api("GET", `/api/v1/roster/summary/?${params}`);
  if (!ok) return;
  for (const td of table.tFoot.querySelectorAll(`td[data-date="${date}"]`)) {
    const s = data.find((x) => x.kind === td.dataset.kind);
    if (!s) { td.textContent = "–"; td.classList.remove("short"); td.title = ""; continue; }
    td.textContent = `${s.strength}/${s.minimum}${s.short ? "!" : ""}`;
    td.classList.toggle("short", s.short);
    td.title = s.warnings.join("; ") || "Strength met";
  }
}

async function setCell(cell, kind, { override = false } = {}) {
  const officer = cell.parentElement.dataset.officer;
  const date = dateOf(cell);
  const reason = reasonInput ? reasonInput.value.trim() : "";
  cell.classList.add("busy");
  const { ok, status, data } = await api("POST", "/api/v1/roster/cells/", {
    officer: Number(officer), date, kind, reason, override,
  });
  cell.classList.remove("busy");
  if (ok) {
    cell.dataset.kind = data.kind;
    cell.className = `c k-${data.kind || "none"}${cell === current ? " cur" : ""}`;
    cell.textContent = CODES[data.kind] ?? "?";
    cell.classList.remove("refused");
    pending = null;
    if (overrideButton) overrideButton.hidden = true;
    let text = `Saved: ${data.label} on ${date}.`;
    if (data.overridden.length) text += ` Overridden: ${data.overridden.join(", ")}.`;
    if (data.rest_day_cancelled) {
      text += ` Rest day cancelled with ${data.rest_day_cancelled.notice_days} days' notice` +
        (data.rest_day_cancelled.compensation_owed ? ": compensation owed." : ".");
    }
    say(text, "ok");
    refreshStrength(date);
  } else if (status === 409) {
    cell.classList.add("refused");
    cell.title = data.detail;
    pending = data.overridable ? { cell, kind } : null;
    if (overrideButton) overrideButton.hidden = !data.overridable;
    say(data.detail, "refused");
  } else if (status === 400) {
    say(`Not saved: ${fieldErrors(data)}`, "refused");
  } else if (status === 403) {
    say(`Not allowed: ${data.detail || "permission denied"}`, "refused");
  } else {
    say(`Not saved (error ${status}). Try again.`, "refused");
  }
}

if (table && table.dataset.editable === "1" && table.tBodies[0].rows.length) {
  const first = table.tBodies[0].rows[0].cells[1];
  first.tabIndex = 0;

  table.addEventListener("click", (event) => {
    const cell = event.target.closest("td.c");
    if (cell) focusCell(cell);
  });

  table.addEventListener("keydown", (event) => {
    const cell = event.target.closest("td.c");
    if (!cell) return;
    const arrows = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (arrows[event.key]) {
      event.preventDefault();
      move(cell, ...arrows[event.key]);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (KEYS[key]) {
      event.preventDefault();
      setCell(cell, KEYS[key]);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      setCell(cell, "");
    } else if (event.key === "Enter" && kindSelect) {
      event.preventDefault();
      setCell(cell, kindSelect.value);
    }
  });

  applyButton?.addEventListener("click", () => {
    if (!current) { say("Choose a cell first (click it, or Tab into the roster).", "refused"); return; }
    setCell(current, kindSelect.value);
  });

  overrideButton?.addEventListener("click", () => {
    if (!pending) return;
    if (!reasonInput.value.trim()) {
      say("An override needs a reason: type it in the Reason box.", "refused");
      reasonInput.focus();
      return;
    }
    const { cell, kind } = pending;
    focusCell(cell);
    setCell(cell, kind, { override: true });
  });
}

const patternForm = document.getElementById("pattern-form");
patternForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(patternForm);
  const out = document.getElementById("pattern-message");
  const { ok, status, data } = await api("POST", "/api/v1/roster/patterns/", {
    team: Number(form.get("team")), start: form.get("start"), days: Number(form.get("days")),
    pattern: form.get("pattern"), offset: Number(form.get("offset")),
    reason: form.get("reason") || "", override: form.get("override") === "on",
  });
  if (ok) {
    out.textContent = `Applied to ${data.officers} officers: ${data.changed} days changed, ` +
      `${data.kept_abstractions} abstractions kept. Reloading…`;
    window.location.reload();
  } else if (status === 409) {
    out.textContent = `${data.detail} (${data.breach_count} in all)`;
  } else if (status === 400) {
    out.textContent = `Not applied: ${fieldErrors(data)}`;
  } else {
    out.textContent = `Not applied (error ${status}).`;
  }
});
