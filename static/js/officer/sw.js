// The officer app's service worker, served at /m/sw.js (scope /m/). Keeps the app shell and the
// last answer of the unit/job reads so the phone opens and shows the job without signal.
// Presses are not the worker's business: the page queues them (queue.js) and sends them itself.

const SHELL = "beacon-officer-shell-v1";
const DATA = "beacon-officer-data-v1";
const READS = ["/api/v1/me/", "/api/v1/me/job/", "/api/v1/me/jobs/"];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    const page = await fetch("/m/", { credentials: "same-origin" });
    if (page.ok && !page.redirected) {
      const html = await page.clone().text();
      await cache.put("/m/", page);
      // The page's own static files, by the names it uses (hashed in production).
      const assets = [...html.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((m) => m[1]);
      await cache.addAll([...new Set(assets)]);
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== SHELL && name !== DATA) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "signed-out") {
    // The job's details belong to the signed-in officer; the shell stays.
    event.waitUntil(caches.delete(DATA));
  }
});

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) (await caches.open(SHELL)).put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/m/") {
    event.respondWith(networkFirst(new Request("/m/"), SHELL));
  } else if (READS.includes(url.pathname)) {
    event.respondWith(networkFirst(request, DATA));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  }
});
