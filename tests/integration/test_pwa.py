"""The registrant portal as an installable app (N3): manifest, icons, service worker, offline and install pages."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from app.core.i18n import LOCALE_COOKIE
from app.pwa import icons
from tests.conftest import STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SHELL_RE = re.compile(r"var SHELL = (\[.*?\]);")
VERSION_RE = re.compile(r'var VERSION = "([0-9a-f]+)";')


def _registrant_client(app: Flask, make_registrant, **fields):
    registrant = make_registrant(email="pwa-person@example.com", family_name="佐々木", given_name="美月", **fields)
    client = app.test_client()
    assert login(client, registrant.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


@pytest.mark.parametrize("name", sorted(icons.ICONS))
def test_committed_icons_are_what_the_script_draws(name):
    """`python -m app.pwa.icons` is the source of the PNGs in app/static/img/."""
    assert (icons.IMG_DIR / name).read_bytes() == icons.build_bytes(name)


def test_icons_have_their_sizes_and_the_right_transparency():
    for name, (size, shape) in icons.ICONS.items():
        with Image.open(icons.IMG_DIR / name) as image:
            assert image.format == "PNG" and image.size == (size, size), name
            corner = image.convert("RGBA").getpixel((0, 0))
        # iOS shows transparency as black and Android masks cut the corners themselves: those are full-bleed
        assert (corner[3] == 0) == (shape == "rounded"), name
    # the maskable icon keeps its drawing inside the central 80 % circle (the safe zone)
    with Image.open(icons.IMG_DIR / "app-icon-maskable-512.png") as image:
        maskable = image.convert("RGB")
    background = maskable.getpixel((0, 0))
    drawn = [(x, y) for x in range(0, 512, 4) for y in range(0, 512, 4) if maskable.getpixel((x, y)) != background]
    assert drawn and max(((x - 256) ** 2 + (y - 256) ** 2) ** 0.5 for x, y in drawn) < 0.4 * 512


def test_manifest_describes_the_app_and_its_icons_are_served(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data(as_text=True))
    assert manifest["name"] == "つなぐ 登録者ネットワーク" and manifest["short_name"] == "つなぐ"
    assert manifest["lang"] == "ja" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/?source=pwa" and manifest["scope"] == "/" and manifest["id"]
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["background_color"])
    seen = set()
    for icon in manifest["icons"]:
        served = client.get(icon["src"])
        assert served.status_code == 200 and served.mimetype == "image/png"
        width, height = Image.open(io.BytesIO(served.data)).size
        assert icon["sizes"] == f"{width}x{height}" and icon["type"] == "image/png"
        seen.add((width, icon["purpose"]))
        served.close()
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= seen


def test_portal_pages_link_the_manifest_the_icons_and_the_worker(client):
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert 'href="/static/img/app-icon-180.png"' in html
    assert 'src="/static/js/pwa.js" data-sw="/sw.js"' in html
    icon = client.get("/static/img/app-icon-180.png")
    assert icon.status_code == 200 and icon.mimetype == "image/png"
    icon.close()


def test_service_worker_is_served_fresh_for_the_whole_site_and_caches_only_the_public_shell(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "application/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    script = response.get_data(as_text=True)
    shell = json.loads(SHELL_RE.search(script).group(1))
    assert "/static/css/tsunagu.css" in shell and "/static/js/pwa.js" in shell
    assert "/static/img/app-icon-192.png" in shell
    assert all(path.startswith("/static/") for path in shell)
    assert 'var OFFLINE = "/offline";' in script
    for path in shell:
        asset = client.get(path)
        assert asset.status_code == 200, path
        asset.close()
    # what it never does: cache pages, other methods or other sites
    assert 'request.method !== "GET"' in script and "url.origin !== self.location.origin" in script
    assert "caches.delete" in script


def test_the_worker_version_follows_the_shell_files(app, tmp_path: Path):
    """A deployment that changes a cached file gets a new cache name, so phones drop the old copy."""
    static = tmp_path / "static"
    shutil.copytree(app.static_folder, static)
    app.static_folder = str(static)
    client = app.test_client()
    first = VERSION_RE.search(client.get("/sw.js").get_data(as_text=True)).group(1)
    assert VERSION_RE.search(client.get("/sw.js").get_data(as_text=True)).group(1) == first
    with (static / "css" / "tsunagu.css").open("a") as css:
        css.write("\n/* changed */\n")
    assert VERSION_RE.search(client.get("/sw.js").get_data(as_text=True)).group(1) != first


def test_offline_page_is_the_same_for_everyone_and_holds_nothing_personal(app, client, make_registrant):
    anonymous = client.get("/offline")
    assert anonymous.status_code == 200
    html = anonymous.get_data(as_text=True)
    assert "インターネットに接続されていません" in html and "再読み込み" in html
    registrant = _registrant_client(app, make_registrant)
    registrant.set_cookie(LOCALE_COOKIE, "en")
    personal = registrant.get("/offline")
    assert personal.data == anonymous.data
    assert "佐々木" not in personal.get_data(as_text=True) and "ログアウト" not in personal.get_data(as_text=True)
    assert "csrf_token" not in html


def test_install_page_guides_ios_and_android_and_offers_the_prompt_button(client):
    response = client.get("/app")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "iPhone・iPad(Safari)" in html and "「共有」" in html and "「ホーム画面に追加」" in html
    assert "Android(Chrome)" in html and "「アプリをインストール」" in html
    # the button only shows when the browser offers an install prompt (pwa.js), never inline script
    assert re.search(r'<section[^>]*data-install-section hidden>', html)
    assert "<script>" not in html and " onclick=" not in html
    assert 'href="/app" aria-current="page"' in html  # the portal menu item for visitors


def test_install_page_works_for_a_logged_in_registrant(app, make_registrant):
    client = _registrant_client(app, make_registrant)
    response = client.get("/app")
    assert response.status_code == 200 and "ログアウト" in response.get_data(as_text=True)
