"""The registrant portal installed as an app (N3), in headless Chromium on a phone-sized screen.

The shared page factory blocks service workers, so these tests open their own context with them allowed
(127.0.0.1 counts as a secure context, as HTTPS would in production).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import HEIGHTS, HTTP_ERROR_LOG, PHONE, LiveServer
from tests.e2e.support import check_page, horizontal_overflow, registrant_login

pytestmark = pytest.mark.browser

WORKER_ACTIVATED = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const worker = registration.active;
  if (worker.state !== "activated") {
    await new Promise((resolve) => worker.addEventListener("statechange", () => {
      if (worker.state === "activated") { resolve(); }
    }));
  }
  return {scope: registration.scope, script: worker.scriptURL, state: worker.state};
}"""

CACHED_URLS = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) { out.push(name + " " + request.url); }
  }
  return out;
}"""

# a stand-in for the browser's install offer (headless Chromium never makes one)
OFFER_INSTALL = """() => {
  const offer = new Event("beforeinstallprompt", {cancelable: true});
  window.promptShown = 0;
  offer.prompt = () => { window.promptShown += 1; };
  offer.userChoice = Promise.resolve({outcome: "dismissed"});
  window.dispatchEvent(offer);
  return offer.defaultPrevented;
}"""


@pytest.fixture
def app_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A phone-sized page in a context that lets service workers run; console errors fail the test."""
    context = browser.new_context(viewport={"width": PHONE, "height": HEIGHTS[PHONE]}, locale="ja-JP",
                                  timezone_id="Asia/Tokyo", service_workers="allow")
    context.set_default_timeout(10_000)
    origin = live_server.url + "/"
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(origin)
                  else route.abort("blockedbyclient"))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith(HTTP_ERROR_LOG)
            and "ERR_INTERNET_DISCONNECTED" not in msg.text and errors.append(f"{page.url}: {msg.text}"))
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.errors = errors
    yield page
    context.close()


def test_manifest_is_valid_and_its_icons_have_their_sizes(app_page: Any, live_server: LiveServer) -> None:
    page = app_page
    page.goto(live_server.url + "/")
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    response = page.request.get(live_server.url + href)
    assert response.ok and response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "つなぐ 登録者ネットワーク" and manifest["short_name"] == "つなぐ"
    assert manifest["display"] == "standalone" and manifest["scope"] == "/" and manifest["lang"] == "ja"
    assert page.evaluate("(start) => new URL(start, location.href).pathname", manifest["start_url"]) == "/"
    sizes = set()
    for icon in manifest["icons"]:
        body = page.request.get(live_server.url + icon["src"])
        assert body.ok
        with Image.open(io.BytesIO(body.body())) as image:
            assert icon["sizes"] == f"{image.width}x{image.height}"
            sizes.add((image.width, icon.get("purpose", "any")))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes
    theme = page.locator('meta[name="theme-color"]').get_attribute("content")
    assert theme == manifest["theme_color"]


def test_worker_caches_the_shell_and_shows_the_offline_page_without_network(app_page: Any,
                                                                             live_server: LiveServer) -> None:
    page = app_page
    page.goto(live_server.url + "/")
    worker = page.evaluate(WORKER_ACTIVATED)
    assert worker == {"scope": live_server.url + "/", "script": live_server.url + "/sw.js", "state": "activated"}
    cached = page.evaluate(CACHED_URLS)
    paths = {entry.split(" ", 1)[1].removeprefix(live_server.url) for entry in cached}
    assert {"/offline", "/static/css/tsunagu.css", "/static/js/pwa.js", "/static/img/app-icon-192.png"} <= paths

    account = live_server.login_for("registrant@example.com")
    registrant_login(page, live_server.url, account.email, account.password)
    page.goto(live_server.url + "/me")
    assert live_server.registrant_name in page.locator("main").inner_text()
    page.goto(live_server.url + "/guide")
    # personal pages, other HTML and the login form never end up in a cache
    paths = {entry.split(" ", 1)[1].removeprefix(live_server.url) for entry in page.evaluate(CACHED_URLS)}
    assert all(path == "/offline" or path.startswith("/static/") for path in paths), sorted(paths)

    page.context.set_offline(True)
    page.goto(live_server.url + "/me")
    assert page.locator("h1").inner_text() == "インターネットに接続されていません"
    assert live_server.registrant_name not in page.content()
    assert page.locator("link[href='/static/css/tsunagu.css']").count() == 1
    assert page.evaluate("getComputedStyle(document.querySelector('.site-header')).display") == "flex"  # CSS cached
    assert horizontal_overflow(page) == []
    check_page(page, "pwa-offline", PHONE)

    page.context.set_offline(False)
    page.get_by_role("link", name="再読み込み").click()
    page.wait_for_load_state()
    assert page.url == live_server.url + "/me"  # retry reopens the page that failed
    assert live_server.registrant_name in page.locator("main").inner_text()
    assert page.errors == []


def test_install_page_on_a_phone(app_page: Any, live_server: LiveServer) -> None:
    page = app_page
    page.goto(live_server.url + "/")
    page.get_by_role("button", name="メニュー").click()
    page.get_by_role("link", name="アプリとして使う").click()
    assert page.url == live_server.url + "/app"
    assert page.locator("h1").inner_text() == "つなぐをアプリとして使う"
    main = page.locator("main").inner_text()
    assert "「ホーム画面に追加」" in main and "「アプリをインストール」" in main
    assert not page.get_by_role("button", name="アプリをインストール").is_visible()  # no prompt offered yet
    assert horizontal_overflow(page) == []
    check_page(page, "pwa-install", PHONE)

    # what Chrome on Android does when the app is installable: pwa.js keeps the prompt for its button
    prevented = page.evaluate(OFFER_INSTALL)
    assert prevented is True
    button = page.get_by_role("button", name="アプリをインストール")
    assert button.is_visible()
    button.click()
    assert page.evaluate("window.promptShown") == 1
    page.get_by_text("インストールは取り消されました。下の手順でも追加できます。").wait_for()
    assert not button.is_visible()
    assert page.errors == []
