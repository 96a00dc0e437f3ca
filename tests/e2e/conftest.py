"""Browser fixtures: a live Tsunagu server on 127.0.0.1 with demo data, and headless Chromium.

The server is gunicorn, as in production, started as a child process against a migrated SQLite
database in a temporary instance directory, and stopped by its PID at the end. Chromium is the
Debian package at /usr/bin/chromium (or TSUNAGU_CHROMIUM), driven by Playwright; nothing is
downloaded. Without Chromium or Playwright the tests are skipped, unless
TSUNAGU_REQUIRE_BROWSER=1 turns that into a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("TSUNAGU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = 375
DESKTOP = 1280
WIDTHS = (PHONE, DESKTOP)
HEIGHTS = {PHONE: 812, DESKTOP: 900}
REGISTRANT_COUNT = 60
# Chromium logs every 4xx page as a console error; the tests visit 403 and 404 pages on purpose.
HTTP_ERROR_LOG = "Failed to load resource: the server responded with a status of"

# A staff user that only the lock-out test uses, so locking it never disturbs the other tests.
LOCKOUT_EMAIL = "lockout-target@example.com"
LOCKOUT_NAME = "ロック試験 担当"
LOCKOUT_PASSWORD = "Kumamoto2026Sakurajima"


def _unavailable(reason: str) -> None:
    if os.environ.get("TSUNAGU_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required for this run (TSUNAGU_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    port: int
    logins: dict[str, Any]
    registrant_id: int
    registrant_name: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def login_for(self, email: str) -> Any:
        return self.logins[email]


def _server_settings(instance: Path) -> dict[str, str]:
    """Settings for the live server (never the developer's instance/config.toml)."""
    return {
        "secret_key": secrets.token_urlsafe(48),
        "database_url": f"sqlite:///{instance / 'tsunagu-e2e.sqlite3'}",
        "auth_log": str(instance / "auth.log"),
        "login_rate_limit": "1000 per minute",
        "rate_limit_storage_uri": "memory://",
    }


def _build_app(instance: Path, settings: dict[str, str]) -> Any:
    from app import create_app

    previous = os.environ.get("TSUNAGU_INSTANCE_PATH")
    os.environ["TSUNAGU_INSTANCE_PATH"] = str(instance)
    try:
        return create_app(settings)
    finally:
        if previous is None:
            os.environ.pop("TSUNAGU_INSTANCE_PATH", None)
        else:
            os.environ["TSUNAGU_INSTANCE_PATH"] = previous


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_gunicorn(instance: Path, settings: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TSUNAGU_INSTANCE_PATH": str(instance),
           **{f"TSUNAGU_{name.upper()}": value for name, value in settings.items()}}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with (instance / "gunicorn.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                                 "--chdir", str(Path(__file__).resolve().parents[2]), "app:create_app()"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], instance: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    log = (instance / "gunicorn.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the live server did not become healthy:\n{log}")


def _prepare_database(app: Any) -> tuple[dict[str, Any], int, str]:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import audit
    from app.demo.services import DEMO_REGISTRANT_EMAIL, load_demo
    from app.extensions import db
    from app.registrants.models import Registrant
    from app.staff.services import create_staff

    with app.app_context():
        upgrade()
        logins = {login.email: login for login in load_demo(db.session, registrant_count=REGISTRANT_COUNT)}
        create_staff(db.session, app.extensions["tsunagu.settings"], audit.SYSTEM, email=LOCKOUT_EMAIL,
                     display_name=LOCKOUT_NAME, role="editor", password=LOCKOUT_PASSWORD)
        db.session.commit()
        registrant = db.session.scalar(sa.select(Registrant).where(Registrant.email == DEMO_REGISTRANT_EMAIL))
        assert registrant is not None
        result = logins, registrant.id, registrant.full_name
        db.session.remove()
    return result


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    instance = tmp_path_factory.mktemp("e2e-instance")
    settings = _server_settings(instance)
    app = _build_app(instance, settings)
    logins, registrant_id, registrant_name = _prepare_database(app)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start_gunicorn(instance, settings, port)
    try:
        _wait_until_healthy(url, process, instance)
        yield LiveServer(url=url, port=port, logins=logins, registrant_id=registrant_id,
                         registrant_name=registrant_name)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"Playwright is not installed: {exc}")
    try:
        import axe_playwright_python  # noqa: F401
    except ImportError as exc:
        _unavailable(f"axe-playwright-python is not installed: {exc}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def page_factory(browser: Any, base_url: str, console_errors: list[str],
                 requests: list[str] | None = None) -> Iterator[Callable[..., Any]]:
    """factory(width) -> a Page in a fresh context (own cookies) sized for that width.

    Every console error (a CSP violation, a script error) goes to `console_errors`, every request URL to
    `requests` when given; a request that is not for `base_url` is aborted, so a run never leaves 127.0.0.1.
    """
    contexts: list[Any] = []
    origin = base_url + "/"

    def guard(route: Any) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def factory(width: int = DESKTOP) -> Any:
        context = browser.new_context(viewport={"width": width, "height": HEIGHTS.get(width, 900)},
                                      locale="ja-JP", timezone_id="Asia/Tokyo", service_workers="block")
        context.set_default_timeout(10_000)
        context.route("**/*", guard)
        if requests is not None:
            context.on("request", lambda request: requests.append(request.url))
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and not msg.text.startswith(HTTP_ERROR_LOG)
                and console_errors.append(f"{page.url}: {msg.text}"))
        page.on("pageerror", lambda exc: console_errors.append(f"{page.url}: {exc}"))
        return page

    try:
        yield factory
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def new_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """new_page(width): a page on the shared live server (see `page_factory`)."""
    with page_factory(browser, live_server.url, live_server.console_errors, live_server.requests) as factory:
        yield factory


def _body_closed_before_sending(app: Any) -> Callable[..., list[bytes]]:
    """The app with its response body read and closed before the server writes it.

    werkzeug's development server skips the body's close() when the browser drops the connection
    while the server drains the request (a cancelled icon or stylesheet fetch): the static file then
    stays open until garbage collection reports it as a ResourceWarning in whatever test runs next.
    """
    def buffered(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()
    return buffered


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    """The test's own `app` (its database and settings) served from a thread on 127.0.0.1; its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, _body_closed_before_sending(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def open_page(browser: Any, served: str) -> Iterator[Callable[..., Any]]:
    """open_page(width): a page on `served` (see `page_factory`); console errors in `open_page.errors`."""
    errors: list[str] = []
    with page_factory(browser, served, errors) as factory:
        factory.errors = errors  # type: ignore[attr-defined]
        yield factory
