// /triage/: keyboard first. The page works with Tab alone; these keys make the queue quicker:
// j / k open the next / previous report, 1-4 choose a decision, r goes to the reason.
// Never while typing in a field.
const links = [...document.querySelectorAll("#triage-queue a[data-report]")];
const current = links.findIndex((a) => a.closest("tr").classList.contains("selected"));
const decisions = [...document.querySelectorAll("input[name=decision]")];

function typing(el) {
  return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) && el.type !== "radio");
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(document.activeElement)) return;
  if (e.key === "j" || e.key === "k") {
    const next = current + (e.key === "j" ? 1 : -1);
    const target = links[Math.max(0, Math.min(links.length - 1, current < 0 ? 0 : next))];
    if (target) window.location.assign(target.href);
    e.preventDefault();
  } else if (/^[1-4]$/.test(e.key) && decisions.length) {
    const choice = decisions[Number(e.key) - 1];
    choice.checked = true;
    choice.focus();
    e.preventDefault();
  } else if (e.key === "r" && document.getElementById("t-reason")) {
    document.getElementById("t-reason").focus();
    e.preventDefault();
  }
});
