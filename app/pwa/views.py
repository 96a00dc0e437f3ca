"""Web app manifest, service worker and offline page of the registrant portal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_babel import force_locale

bp = Blueprint("pwa", __name__)

THEME_COLOUR = "#1d4f91"
BACKGROUND_COLOUR = "#f3f5f8"
# The shell the service worker keeps for offline use: public, identical for every visitor.
SHELL_STATIC = ("css/tsunagu.css", "css/pwa.css", "js/tsunagu.js", "js/pwa.js", "img/icon.svg",
                "img/app-icon-180.png", "img/app-icon-192.png", "img/app-icon-512.png",
                "img/app-icon-maskable-512.png")
ICONS = (("img/app-icon-192.png", "192x192", "any"), ("img/app-icon-512.png", "512x512", "any"),
         ("img/app-icon-maskable-512.png", "512x512", "maskable"))


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    # Fixed Japanese names: the installed app's label must not depend on who fetched the manifest first.
    body = {
        "id": "/?source=pwa",
        "name": "つなぐ 登録者ネットワーク",
        "short_name": "つなぐ",
        "description": "登録者のための情報・交流サイト(お知らせ、記事、イベント、アンケート)",
        "lang": "ja",
        "dir": "ltr",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [{"src": url_for("static", filename=path), "sizes": sizes, "type": "image/png", "purpose": purpose}
                  for path, sizes, purpose in ICONS],
    }
    response = Response(json.dumps(body, ensure_ascii=False, indent=2), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker() -> Response:
    shell = [url_for("static", filename=path) for path in SHELL_STATIC]
    script = render_template(  # nosec B604 # "shell" is a template variable here, not a subprocess option
        "pwa/sw.js", version=shell_version(), shell=json.dumps(shell),
        offline=json.dumps(url_for(".offline")), static_prefix=json.dumps(url_for("static", filename="")))
    response = Response(script, mimetype="application/javascript")
    response.headers["Cache-Control"] = "no-cache"  # the browser re-checks it, so a new version is picked up
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline() -> str:
    # Rendered without the session (no current_user, no flashes, fixed language): the cached copy is the
    # same for everyone and holds nothing personal.
    with force_locale("ja"):
        return render_template("pwa/offline.html")


@bp.get("/app")
def install() -> str:
    return render_template("pwa/install.html")


def shell_version() -> str:
    """A short hash of the cached shell (static files, offline page and worker templates): a change to
    any of them makes a new cache name, and the worker drops the old cache on activation."""
    digest = hashlib.sha256()
    static = Path(current_app.static_folder or "")
    templates = Path(current_app.root_path) / "templates" / "pwa"
    for path in [*(static / name for name in SHELL_STATIC), templates / "offline.html", templates / "sw.js"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:12]
