// Offline: cache the page's own files on install. Network first (a new
// version shows at once when online), the cache when offline.
const VERSION = 'smartbms-web-2';
const FILES = ['./', 'index.html', 'style.css', 'app.js', 'bms.js', 'auth.js', 'protocol.js', 'reasons.js',
  'status-view.js', 'trend-view.js', 'settings-view.js', 'history-view.js', 'transport-ble.js', 'transport-sim.js',
  'schema.json', 'manifest.webmanifest', 'icon.svg', 'icon-192.png', 'icon-512.png'];

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(VERSION).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/sim/')) return;
  ev.respondWith(fetch(ev.request)
    .then((res) => {
      if (res.ok) {
        const copy = res.clone();
        caches.open(VERSION).then((c) => c.put(ev.request, copy));
      }
      return res;
    })
    .catch(() => caches.match(ev.request, { ignoreSearch: true })));
});
