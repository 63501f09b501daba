// Presses waiting to be sent (docs/officer-app.md "Without signal"). Kept in localStorage, so
// they survive a reload, a closed tab and a sign-out; each carries the moment it was pressed
// (`body.at`), its own Idempotency-Key and the account it was pressed under. They are sent one
// at a time, oldest first: a press is removed only once the server has answered it, so a
// replay after a lost answer is the same request with the same key (the server applies it once).

const KEY = "beacon.officer.queue";

export function load() {
  try {
    const items = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function save(items) {
  localStorage.setItem(KEY, JSON.stringify(items));
}

function newKey() {
  // crypto.randomUUID exists only in secure contexts (https, localhost).
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A press: {key, user, url, body, label}. Returns it.
export function enqueue({ user, url, body, label }) {
  const press = { key: newKey(), user, url, body, label };
  const items = load();
  items.push(press);
  save(items);
  return press;
}

function drop(key) {
  save(load().filter((p) => p.key !== key));
}

let running = null;

// send(press) resolves to "done" (answered, applied or refused for good: drop it), "retry"
// (no signal, server busy: stop and keep it) or "signed-out" (keep it until sign-in), and
// rejects when the network failed (kept). Presses of another account wait for that account.
export function flush(send, user) {
  if (!running) {
    running = run(send, user).finally(() => {
      running = null;
    });
  }
  return running;
}

async function run(send, user) {
  for (;;) {
    const press = load().find((p) => p.user === user);
    if (!press) return "empty";
    let outcome;
    try {
      outcome = await send(press);
    } catch {
      return "offline";
    }
    if (outcome !== "done") return outcome;
    drop(press.key);
  }
}
