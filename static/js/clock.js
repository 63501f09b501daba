// Times shown on the force's clock (settings.TIME_ZONE: Europe/London for the Met), named on
// <html data-time-zone>, whatever zone the machine showing them is set to. A desk, an officer's
// phone and a replay must read one clock: a phone left on another zone, or a browser on a
// machine set to UTC, would otherwise show a BST incident an hour out. The API answers in UTC.

const zone = document.documentElement.dataset.timeZone || "Europe/London";

function format(iso, options) {
  return iso ? new Intl.DateTimeFormat("en-GB", { ...options, timeZone: zone }).format(new Date(iso)) : "";
}

// "14:05"
export function hoursMinutes(iso) {
  return format(iso, { hour: "2-digit", minute: "2-digit", hour12: false });
}

// "14:05:09"
export function clockTime(iso) {
  return format(iso, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

// "03/12/2026"
export function day(iso) {
  return format(iso, { year: "numeric", month: "2-digit", day: "2-digit" });
}

// "03/12/2026, 14:05:09"; with `zoneName`, "03/12/2026, 14:05:09 GMT" (BST in summer)
export function dayAndTime(iso, { zoneName = false } = {}) {
  return format(iso, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false, ...(zoneName ? { timeZoneName: "short" } : {}) });
}
