"""The e-application stub (app/sync/stub.py) on a free 127.0.0.1 port, and helpers for the sync tests (S1).

A test module imports the fixtures it needs; `settings_overrides` there points the app at the stub:

    from tests.support.e_application import code_masters, fast_backoff, stub, sync_settings  # noqa: F401
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.codes.models import Code
from app.demo.data import CODE_MASTERS
from app.extensions import db
from app.sync import connector
from app.sync.stub import StubServer, StubState

TOKEN = "stub-test-token-7c1f"
SEED = 7


@pytest.fixture
def stub_records() -> int:
    """Records the stub starts with; override in a module or with @pytest.mark.parametrize."""
    return 30


@pytest.fixture
def stub(stub_records: int) -> Iterator[StubServer]:
    server = StubServer(StubState(count=stub_records, seed=SEED, token=TOKEN)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sync_settings(stub: StubServer) -> dict[str, Any]:
    """Settings for an app that syncs from the stub: small pages, short timeouts, few retries."""
    return {"sync_api_url": stub.url, "sync_api_token": TOKEN, "sync_page_size": 10, "sync_timeout_seconds": 1,
            "sync_max_retries": 2, "sync_lock_minutes": 5}


@pytest.fixture
def code_masters(app: Flask) -> None:
    """The demo code masters, which the stub's answers name by label."""
    with app.app_context():
        for kind, entries in CODE_MASTERS.items():
            for order, (code, label, label_en) in enumerate(entries, start=1):
                db.session.add(Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order))
        db.session.commit()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries wait milliseconds instead of seconds (Retry-After is still honoured as sent)."""
    monkeypatch.setattr(connector, "BACKOFF_BASE_SECONDS", 0.01)


def control(server: StubServer, **body: Any) -> dict[str, Any]:
    """POST /_control through HTTP, as an outside test harness would."""
    request = urllib.request.Request(  # noqa: S310 (127.0.0.1)
        f"{server.url}/_control", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (127.0.0.1)
        return dict(json.loads(response.read()))


def run_summary(run: Any) -> dict[str, Any]:
    """A SyncRun's outcome as plain values (usable after its session is gone)."""
    from app.sync.services import COUNTS

    return {"id": run.id, "status": run.status, "error": run.error, "trigger": run.trigger,
            "cursor_before": run.cursor_before, "cursor_after": run.cursor_after,
            **{name: getattr(run, name) for name in COUNTS}}


def sync(app: Flask, trigger: str = "manual", **kwargs: Any) -> dict[str, Any]:
    from app.sync.services import run_sync

    with app.app_context():
        run = run_sync(db.session, app.extensions["tsunagu.settings"], trigger, **kwargs)
        return run_summary(run)


def scalar(app: Flask, stmt: Any) -> Any:
    with app.app_context():
        return db.session.scalar(stmt)


def count(app: Flask, model: Any, *where: Any) -> int:
    return int(scalar(app, sa.select(sa.func.count()).select_from(model).where(*where)) or 0)
