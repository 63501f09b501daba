// The incident page: every action form posts JSON to the API and reloads on success, so the
// page always shows what the server holds. Ctrl+Enter submits the form you are in.

import { dayAndTime } from "./clock.js";

const root = document.querySelector(".incident");
const base = root.dataset.api;

function cookie(name) {
  const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
}

async function api(url, method = "GET", body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") Object.assign(headers, { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") });
  const response = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data };
}

function messages(data) {
  if (!data) return "The server did not answer.";
  if (typeof data === "string") return data;
  if (Array.isArray(data)) return data.map(messages).join(" ");
  if (data.detail) return data.detail;
  return Object.entries(data).map(([k, v]) => `${k}: ${messages(v)}`).join(" · ");
}

function formBody(form) {
  const body = {};
  for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (el.name.endsWith("[]")) {
      const key = el.name.slice(0, -2);
      body[key] ||= [];
      if (el.checked) body[key].push(el.value);
      continue;
    }
    let value = el.value;
    if (el.dataset.type === "optional" && !value) continue;
    if (el.dataset.type === "number") value = Number(value);
    if (el.dataset.type === "date") value = value ? new Date(`${value}T23:59:59`).toISOString() : null;
    if (el.name.includes(".")) {
      const [outer, inner] = el.name.split(".");
      (body[outer] ||= {})[inner] = value;
    } else body[el.name] = value;
  }
  return body;
}

for (const form of document.querySelectorAll("form.action-form")) {
  const error = form.querySelector(".error");
  const key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.hidden = true;
    const url = form.dataset.url || base + form.dataset.action;
    try {
      const headers = {};
      const r = await fetch(url, {
        method: form.dataset.method || "POST", credentials: "same-origin", body: JSON.stringify(formBody(form)),
        headers: Object.assign(headers, { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cookie("csrftoken"), "Idempotency-Key": key }),
      });
      let data = null;
      try { data = await r.json(); } catch { data = null; }
      if (r.ok) { window.location.reload(); return; }
      error.textContent = messages(data);
      error.hidden = false;
    } catch {
      error.textContent = "No connection to the server; nothing was lost, try again.";
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
}

const show = document.getElementById("show-callers");
if (show) {
  show.addEventListener("click", async () => {
    const r = await api(`${base}calls/`);
    const list = document.getElementById("callers");
    list.replaceChildren(...(r.ok ? r.data : []).map((c) => {
      const li = document.createElement("li");
      li.textContent = `${c.channel} ${dayAndTime(c.received_at)}: ${c.caller.name || "(no name)"} · ${c.caller.phone || "(no number)"}`;
      return li;
    }));
    if (!r.ok) list.textContent = messages(r.data);
    list.hidden = false;
    show.hidden = true;
  });
}

for (const button of document.querySelectorAll("button.expire")) {
  button.addEventListener("click", async () => {
    const r = await api(`/api/v1/warning-markers/${button.dataset.id}/expire/`, "POST", {});
    if (r.ok) window.location.reload();
    else button.textContent = messages(r.data);
  });
}

// The crime report's draft holds the victim's and suspect's details: fetched (and audited) only
// when the handler opens it for review.
const loadCrime = document.getElementById("load-crime");
if (loadCrime) {
  loadCrime.addEventListener("click", async () => {
    const r = await api(`${base}crime-report/`);
    const form = document.getElementById("crime-review");
    if (!r.ok) { loadCrime.textContent = messages(r.data); return; }
    const values = Object.assign({}, r.data, { location: r.data.location.address });
    for (const el of form.querySelectorAll("input[name], textarea[name]")) el.value = values[el.name] ?? "";
    if (r.data.classification) form.querySelector("select[name=classification]").value = r.data.classification.code;
    form.hidden = false;
    loadCrime.hidden = true;
  });
}
