"""The registrant portal as an installable web app (N3): manifest, service worker, offline page."""
