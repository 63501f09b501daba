// Idle sign-out warning. The server decides (cad/accounts/sessions.py): a session ends after
// SESSION_IDLE_SECONDS without user activity. This module only asks how long is left, shows a
// banner in the last few minutes, and sends "I'm here" when the user says so.
//
// Its own checks carry `X-Beacon-Background: 1`, so looking does not count as activity; the
// "Stay signed in" button posts without it, which does. Config comes from data attributes on
// #idle-warning (no inline script: the Content-Security-Policy forbids it).
//
// The warning is a modal dialog: it takes the focus (on "Stay signed in", so Enter answers it),
// keeps it until answered or dismissed (Escape dismisses), and gives it back afterwards.

const box = document.getElementById("idle-warning");

if (box) {
  const statusUrl = box.dataset.statusUrl;
  const loginUrl = box.dataset.loginUrl;
  const countdown = document.getElementById("idle-countdown");
  let checkTimer = null;
  let tickTimer = null;
  let deadline = 0;
  let dismissed = false;
  let returnFocus = null;

  const csrfToken = () => {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  };

  const schedule = (seconds) => {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => check("GET"), Math.max(1, seconds) * 1000 + 500);
  };

  const describe = (seconds) => {
    if (seconds >= 60) {
      const minutes = Math.ceil(seconds / 60);
      return `${minutes} minute${minutes === 1 ? "" : "s"}`;
    }
    return `${seconds} second${seconds === 1 ? "" : "s"}`;
  };

  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    countdown.textContent = describe(left);
  };

  const open = () => {
    if (box.open) return;
    returnFocus = document.activeElement;
    box.showModal();
    document.getElementById("idle-stay").focus();
  };

  const close = () => {
    if (box.open) box.close();
  };

  // However it closes (a button, Escape, the warning no longer due), focus goes back.
  box.addEventListener("close", () => {
    if (returnFocus && returnFocus.isConnected && returnFocus !== document.body) returnFocus.focus();
    returnFocus = null;
  });
  box.addEventListener("cancel", () => {
    dismissed = true; // Escape: the same as "Dismiss"
  });

  const show = () => {
    tick();
    if (!dismissed) open();
    if (!tickTimer) tickTimer = setInterval(tick, 1000);
  };

  const hide = () => {
    close();
    dismissed = false;
    clearInterval(tickTimer);
    tickTimer = null;
  };

  const signedOut = () => {
    const next = encodeURIComponent(location.pathname + location.search);
    location.assign(`${loginUrl}?next=${next}`);
  };

  async function check(method) {
    let data;
    try {
      const headers = { Accept: "application/json" };
      if (method === "GET") headers["X-Beacon-Background"] = "1";
      else headers["X-CSRFToken"] = csrfToken();
      const response = await fetch(statusUrl, { method, headers, credentials: "same-origin" });
      if (!response.ok) throw new Error(`status ${response.status}`);
      data = await response.json();
    } catch {
      schedule(60); // the server is unreachable: ask again in a minute
      return;
    }
    if (!data.signed_in || data.remaining <= 0) {
      signedOut();
      return;
    }
    deadline = Date.now() + data.remaining * 1000;
    if (data.remaining > data.warning) {
      hide();
      schedule(data.remaining - data.warning);
    } else {
      show();
      schedule(Math.min(data.remaining, 30));
    }
  }

  document.getElementById("idle-stay").addEventListener("click", () => {
    dismissed = false;
    check("POST");
  });
  document.getElementById("idle-dismiss").addEventListener("click", () => {
    dismissed = true;
    close();
  });
  // The first check waits for the page's own scripts (deferred modules, with what they import,
  // run before DOMContentLoaded), which put the focus where work starts; opened before them,
  // the warning would have nothing to give the focus back to.
  new Promise((ready) => {
    if (document.readyState === "complete") ready();
    document.addEventListener("DOMContentLoaded", ready, { once: true });
    window.addEventListener("load", ready, { once: true });
  }).then(() => check("GET"));
}
