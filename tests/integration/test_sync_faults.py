"""S1 e-application sync under faults: retries with backoff, 5xx / timeouts / malformed JSON / failure after
page 2, a 401, and a `flask sync run` process killed with SIGKILL mid-run. After every failure the cursor
stands at the last fully stored page, nothing is lost or doubled, and the next run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from app.mail.models import OutboxMessage
from app.registrants.models import Registrant
from app.sync import services
from app.sync.connector import ApiClient, SyncApiError
from app.sync.models import SyncRun, SyncState
from tests.conftest import SECRET
from tests.support.e_application import (  # noqa: F401  (fixtures)
    TOKEN,
    code_masters,
    control,
    count,
    fast_backoff,
    scalar,
    stub,
    stub_records,
    sync,
    sync_settings,
)

pytestmark = pytest.mark.usefixtures("code_masters", "fast_backoff")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings_overrides(sync_settings):  # noqa: F811
    return sync_settings


def state(app):
    with app.app_context():
        row = db.session.get(SyncState, "e_application")
        return (row.cursor, row.lock_owner) if row else (None, None)


def assert_complete(app, stub):  # noqa: F811
    """Every stub record is exactly one registrant with exactly one invitation."""
    with app.app_context():
        ids = sorted(db.session.scalars(sa.select(Registrant.external_id)))
        mails = db.session.scalars(sa.select(OutboxMessage.to_address)
                                   .where(OutboxMessage.category == "invitation")).all()
    assert ids == sorted(stub.state.records)
    assert sorted(mails) == sorted(r["answers"]["メールアドレス"] for r in stub.state.records.values())


def newest_of_first(stub, n):  # noqa: F811
    return sorted(r["updated_at"] for r in stub.state.records.values())[n - 1]


# --- retries ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["500", "503", "timeout", "malformed"])
def test_transient_failures_are_retried_and_the_run_succeeds(app, stub, mode):  # noqa: F811
    control(stub, fail_next=2, mode=mode, hang_seconds=1.5, retry_after=0)  # sync_max_retries is 2
    run = sync(app)
    assert run["status"] == "succeeded", run["error"]
    assert run["created"] == 30 and stub.state.requests == 3 + 2
    assert_complete(app, stub)


def test_429_waits_as_long_as_retry_after_says(app, stub):  # noqa: F811
    control(stub, fail_next=1, mode="429", retry_after=2)
    waits = []
    settings = app.extensions["tsunagu.settings"]
    client = ApiClient(settings.sync_api_url, TOKEN, page_size=10, timeout=1, max_retries=2, sleep=waits.append)
    assert sync(app, client=client)["status"] == "succeeded"
    assert waits == [2.0]


def test_backoff_grows_exponentially_with_jitter_and_is_capped(monkeypatch):
    from app.sync import connector

    monkeypatch.setattr(connector, "BACKOFF_BASE_SECONDS", 1.0)
    client = ApiClient("http://127.0.0.1:9", TOKEN, max_retries=8)
    delays = [client._delay(attempt, None) for attempt in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(connector.BACKOFF_CAP_SECONDS, 2 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert client._delay(0, 10_000) == connector.RETRY_AFTER_CAP_SECONDS


def test_a_refused_connection_is_retried_then_reported():
    waits = []
    client = ApiClient("http://127.0.0.1:9", TOKEN, max_retries=2, timeout=1, sleep=waits.append)
    with pytest.raises(SyncApiError, match=r"接続できません.*3回試行しました"):
        client.get_page(None, None)
    assert len(waits) == 2


def test_a_wrong_token_fails_at_once_without_retrying_or_leaking_the_token(app, stub):  # noqa: F811
    settings = app.extensions["tsunagu.settings"]
    client = ApiClient(settings.sync_api_url, "wrong-token-123", page_size=10, timeout=1, max_retries=3)
    run = sync(app, client=client)
    assert run["status"] == "failed" and "認証に失敗しました(HTTP 401)" in run["error"]
    assert stub.state.requests == 0  # the stub counts only authorised requests: there was no retry
    assert "wrong-token-123" not in repr(client) and "wrong-token-123" not in run["error"]
    assert count(app, Registrant) == 0 and state(app) == (None, None)


def test_redirects_are_refused_so_the_token_cannot_follow_them():
    import threading

    from flask import Flask
    from werkzeug.serving import make_server

    bounce = Flask("bounce")
    bounce.add_url_rule("/records", "records", lambda: ("", 302, {"Location": "http://127.0.0.1:9/steal"}))
    server = make_server("127.0.0.1", 0, bounce)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        client = ApiClient(f"http://127.0.0.1:{server.server_port}", TOKEN, max_retries=0, timeout=2)
        with pytest.raises(SyncApiError, match="リダイレクト"):
            client.get_page(None, None)
    finally:
        thread.join(5)
        server.server_close()


# --- a run that fails part-way ---------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "reason"), [
    ("500", "HTTP 500"),
    ("timeout", "タイムアウト"),
    ("malformed", "JSONとして読めません"),
    ("bad_shape", "records の一覧がありません"),
], ids=["500", "timeout", "malformed", "bad_shape"])
def test_a_failure_after_page_2_fails_the_run_keeps_pages_1_and_2_and_the_next_run_completes(
        app, stub, mode, reason):  # noqa: F811
    """S1: the run ends failed with the reason; the cursor covers exactly what was stored; nothing is lost."""
    control(stub, fail_after_page=2, mode=mode, hang_seconds=1.5)
    failed = sync(app)
    assert failed["status"] == "failed"
    assert reason in failed["error"] and "3回試行しました" in failed["error"]
    assert (failed["fetched"], failed["created"]) == (20, 20)
    assert state(app) == (newest_of_first(stub, 20), None)  # the cursor covers pages 1-2, and the lock is free
    assert count(app, Registrant) == 20

    control(stub, reset=True)
    resumed = sync(app)
    assert resumed["status"] == "succeeded"
    assert resumed["created"] == 10 and resumed["cursor_before"] == failed["cursor_after"]
    assert_complete(app, stub)
    with app.app_context():
        events = [json.loads(e.detail) for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "sync.run").order_by(AuditEvent.seq))]
    assert [(e["status"], e["created"]) for e in events] == [("failed", 20), ("succeeded", 10)]


def test_a_failed_first_page_leaves_no_cursor_and_the_history_shows_the_reason(app, stub, client, make_staff):  # noqa: F811
    from tests.conftest import STRONG_PASSWORD, login

    control(stub, fail_next=3, mode="503", retry_after=0)
    failed = sync(app)
    assert failed["status"] == "failed" and failed["fetched"] == 0 and state(app) == (None, None)
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get("/admin/sync/").get_data(as_text=True)
    assert "電子申請システムでエラーが発生しました(HTTP 503)" in page and "失敗" in page
    assert sync(app)["created"] == 30


# --- a process killed mid-run ------------------------------------------------------------------------------

def _flask_sync_run(app, tmp_path):
    settings = app.extensions["tsunagu.settings"]
    env = {**os.environ, "TSUNAGU_SECRET_KEY": SECRET, "TSUNAGU_DATABASE_URL": settings.database_url,
           "TSUNAGU_INSTANCE_PATH": str(tmp_path), "TSUNAGU_AUTH_LOG": str(tmp_path / "auth.log"),
           "TSUNAGU_SYNC_API_URL": settings.sync_api_url, "TSUNAGU_SYNC_API_TOKEN": TOKEN,
           "TSUNAGU_SYNC_PAGE_SIZE": "10", "TSUNAGU_SYNC_LOCK_MINUTES": "5"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sync", "run", "--trigger", "timer"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_run_loses_nothing_and_the_next_run_takes_over_the_stale_lock(app, stub, tmp_path):  # noqa: F811
    """S1: `flask sync run` killed with SIGKILL after its first page commit (SQLite file / MariaDB). The page
    it committed stays, the run it left `running` is closed as interrupted, its lock (a dead process on this
    host) is taken over at once, and the next run brings in the rest: every record once, one mail each."""
    control(stub, page_delay=0.4)
    process = _flask_sync_run(app, tmp_path)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        deadline = time.monotonic() + 30
        while not line.startswith("page 1:") and time.monotonic() < deadline and process.poll() is None:
            line = process.stderr.readline()
        assert line.startswith("page 1: fetched 10, created 10"), line
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
    cursor, owner = state(app)
    assert owner and owner.split(":")[1] == str(process.pid)  # the dead process still "holds" the lock
    assert cursor in (newest_of_first(stub, 10), newest_of_first(stub, 20))
    with app.app_context():
        killed = db.session.scalar(sa.select(SyncRun))
        assert killed.status == "running" and killed.trigger == "timer"
        stored = killed.created
    assert count(app, Registrant) == stored

    control(stub, page_delay=0)
    resumed = sync(app)
    assert resumed["status"] == "succeeded"
    assert resumed["created"] == 30 - stored
    assert_complete(app, stub)
    with app.app_context():
        killed = db.session.get(SyncRun, killed.id)
        assert killed.status == "failed" and "中断" in killed.error and killed.finished_at
        assert db.session.scalar(sa.select(sa.func.sum(SyncRun.created))) == 30
        assert len(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sync.run")).all()) == 2
    assert state(app)[1] is None


def test_a_lock_left_by_a_dead_process_elsewhere_waits_for_its_lease(app, stub):  # noqa: F811
    """Another node's dead process cannot be seen from here: its lock holds until the lease expires."""
    from datetime import timedelta

    from app.core.timeutil import utcnow

    with app.app_context():
        services.acquire_lock(db.session, "web2:999999:dead", utcnow(), timedelta(minutes=5))
    with pytest.raises(services.SyncAlreadyRunning):
        sync(app)
    later = utcnow() + timedelta(minutes=6)
    assert sync(app, now=later)["status"] == "succeeded"
