// The service worker of the registrant portal (served from /sw.js, scope "/").
// It keeps the public shell (CSS, scripts, icons, the offline page) for offline use and nothing else:
// pages are always fetched from the network, and when the network is gone the offline page is shown.
// HTML other than the offline page, /admin, /account, API answers and personal pages are never cached.
"use strict";

var VERSION = "{{ version }}";
var CACHE = "tsunagu-shell-" + VERSION;
var SHELL = {{ shell | safe }};
var OFFLINE = {{ offline | safe }};
var STATIC_PREFIX = {{ static_prefix | safe }};

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      // credentials "omit": the cached offline page is the same for everyone
      var requests = SHELL.concat([OFFLINE]).map(function (url) {
        return new Request(url, { credentials: "omit", cache: "reload" });
      });
      return cache.addAll(requests);
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("tsunagu-shell-") === 0 && name !== CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function isStaticAsset(url) {
  return url.pathname.indexOf(STATIC_PREFIX) === 0;
}

function cacheable(response) {
  var type = response.headers.get("Content-Type") || "";
  return response.ok && response.type === "basic" && type.indexOf("text/html") !== 0;
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    // network only; the offline page when the network fails (never a cached copy of the page itself)
    event.respondWith(fetch(request).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(OFFLINE); });
    }));
    return;
  }
  if (isStaticAsset(url)) {
    event.respondWith(caches.open(CACHE).then(function (cache) {
      return cache.match(request).then(function (cached) {
        if (cached) { return cached; }
        return fetch(request).then(function (response) {
          if (cacheable(response)) { cache.put(request, response.clone()); }
          return response;
        });
      });
    }));
  }
  // everything else (pages' data, downloads, API answers) goes to the network untouched
});
