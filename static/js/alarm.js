// The emergency alarm sound: generated with WebAudio, so no audio file ships with Beacon.
// A two-tone siren burst every second until stopped. Browsers only allow sound after the user
// has interacted with the page; `unlock()` is called on the first key or click, and the visual
// alarm does not depend on sound at all.

let ctx = null;
let timer = null;

function context() {
  if (!ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    ctx = new Ctx();
  }
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
  return ctx;
}

export function unlock() {
  context();
}

function burst() {
  const ac = context();
  if (!ac) return;
  const now = ac.currentTime;
  const osc = ac.createOscillator();
  const gain = ac.createGain();
  osc.type = "square";
  osc.frequency.setValueAtTime(960, now);
  osc.frequency.setValueAtTime(760, now + 0.25);
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.25, now + 0.02);
  gain.gain.setValueAtTime(0.25, now + 0.45);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.5);
  osc.connect(gain).connect(ac.destination);
  osc.start(now);
  osc.stop(now + 0.55);
}

export function sounding() {
  return timer !== null;
}

export function start() {
  if (timer) return;
  burst();
  timer = setInterval(burst, 1000);
}

export function stop() {
  clearInterval(timer);
  timer = null;
}
