"""Shared fixtures. Database-backed tests run twice: on SQLite and on a real MariaDB server."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from tests.support.mariadb import MariaDBUnavailable, ThrowawayMariaDB

SECRET = secrets.token_urlsafe(48)
# Tests never read the developer's instance/ (its config.toml or database).
os.environ["TSUNAGU_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="tsunagu-test-instance-")
STRONG_PASSWORD = "Kumamoto2026Sakurajima"


def _require(flag: str) -> bool:
    return os.environ.get(flag) == "1"


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[ThrowawayMariaDB]:
    try:
        server = ThrowawayMariaDB().start()
    except MariaDBUnavailable as exc:
        if _require("TSUNAGU_REQUIRE_MARIADB"):
            pytest.fail(f"MariaDB is required for this run: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app({"secret_key": SECRET, "database_url": url, "auth_log": str(instance / "auth.log")})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{base / 'tsunagu-test.sqlite3'}"
    _migrate(url, base)
    return url


@pytest.fixture(scope="session")
def migrated_mariadb(mariadb_server: ThrowawayMariaDB, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = mariadb_server.create_database("tsunagu_test")
    _migrate(url, tmp_path_factory.mktemp("mariadb"))
    return url


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"migrated_{request.param}"))


def _empty_all_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Iterator[Flask]:
    config = {"secret_key": SECRET, "database_url": database_url, "auth_log": str(tmp_path / "auth.log"),
              **settings_overrides}
    application = create_app(config)
    application.config["TESTING"] = True
    with application.app_context():
        _empty_all_tables()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth_log(app: Flask) -> Path:
    return Path(app.extensions["tsunagu.settings"].auth_log)


CSRF_INPUT_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    """Fetch a page and return the CSRF token of its form, as a browser would have it."""
    response = client.get(path)
    field = CSRF_INPUT_RE.search(response.get_data(as_text=True))
    assert field, f"no CSRF token on {path} (status {response.status_code})"
    value = VALUE_RE.search(field.group(0))
    assert value
    return value.group(1)


def login(client: FlaskClient, email: str, password: str, realm: str = "admin") -> Any:
    path = "/admin/login" if realm == "admin" else "/login"
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "email": email, "password": password})


@pytest.fixture
def make_staff(app: Flask) -> Any:
    """Create a staff user with a known password: make_staff('viewer') -> StaffUser."""
    from app import audit
    from app.staff.services import create_staff

    def factory(role: str, email: str | None = None, password: str = STRONG_PASSWORD) -> Any:
        with app.app_context():
            user = create_staff(db.session, app.extensions["tsunagu.settings"], audit.SYSTEM,
                                email=email or f"{role}-{secrets.token_hex(3)}@example.com",
                                display_name=f"テスト {role}", role=role, password=password)
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return factory


@pytest.fixture
def make_registrant(app: Flask) -> Any:
    from datetime import date

    from app.auth.passwords import hash_password
    from app.registrants.models import Registrant

    def factory(email: str | None = None, password: str | None = STRONG_PASSWORD, **fields: Any) -> Any:
        values = {"family_name": "山田", "given_name": "花子", "family_name_kana": "ヤマダ",
                  "given_name_kana": "ハナコ", "valid_until": date(2027, 3, 31), **fields}
        with app.app_context():
            registrant = Registrant(email=email or f"r-{secrets.token_hex(3)}@example.com",
                                    password_hash=hash_password(password) if password else None, **values)
            db.session.add(registrant)
            db.session.commit()
            db.session.refresh(registrant)
            db.session.expunge(registrant)
            return registrant

    return factory


def count_rows(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- proof in the summary that the real parts ran -------------------------------------------------

REAL_PARTS = {"mariadb": ("MariaDB-backed", "TSUNAGU_REQUIRE_MARIADB"),
              "browser": ("browser (Chromium)", "TSUNAGU_REQUIRE_BROWSER")}


def _real_part_counts(stats: dict[str, list[Any]]) -> dict[str, dict[str, int]]:
    counts = {marker: {"passed": 0, "failed": 0, "skipped": 0} for marker in REAL_PARTS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in stats.get(outcome, []):
            if outcome == "passed" and getattr(report, "when", "call") != "call":
                continue
            for marker in REAL_PARTS:
                if marker in getattr(report, "keywords", {}):
                    counts[marker]["failed" if outcome == "error" else outcome] += 1
    return counts


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    counts = _real_part_counts(terminalreporter.stats)
    terminalreporter.write_sep("-", "real parts exercised")
    for marker, (label, _flag) in REAL_PARTS.items():
        c = counts[marker]
        terminalreporter.write_line(f"{label} tests: {c['passed']} passed, {c['failed']} failed, "
                                    f"{c['skipped']} skipped")


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """When a real part is required, a run in which none of its tests passed is a failure."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or session.config.option.collectonly:
        return
    counts = _real_part_counts(reporter.stats)
    for marker, (label, flag) in REAL_PARTS.items():
        if _require(flag) and counts[marker]["passed"] == 0 and session.testscollected:
            selected = any(marker in item.keywords for item in session.items)
            if selected:
                reporter.write_line(f"{flag}=1 but no {label} test passed", red=True)
                session.exitstatus = 1
