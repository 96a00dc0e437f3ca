"""The web workers' connection pool (app/core/dbpool.py).

A connection the database server closed while it sat idle in the pool is replaced before a page uses it,
and work a request did not commit never reaches the next request on the same connection, although the pool
no longer rolls back on its own.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from app import audit, create_app
from app.core import dbpool
from app.core.timeutil import utcnow
from app.extensions import db
from app.news.models import NewsItem
from app.staff.services import create_staff
from tests.conftest import SECRET, STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse fixture)


def _pooled_connection_ids(app) -> set[int]:
    with app.app_context(), db.engine.connect() as connection:
        return {connection.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()}


def _kill(url: str, connection_ids: set[int]) -> None:
    """What a database restart does to the pool: the server ends the connections (from another session)."""
    admin = sa.create_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        for connection_id in connection_ids:
            connection.execute(sa.text(f"KILL {int(connection_id)}"))
    admin.dispose()


@pytest.mark.mariadb
def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_the_page_uses_it(
        migrated_mariadb, tmp_path, monkeypatch):
    monkeypatch.setattr(dbpool, "IDLE_PING_SECONDS", 0.2)
    app = create_app({"secret_key": SECRET, "database_url": migrated_mariadb, "auth_log": str(tmp_path / "auth.log")})
    with app.app_context():
        create_staff(db.session, app.extensions["tsunagu.settings"], audit.SYSTEM, email="pool-check@example.jp",
                     display_name="職員 確認", role="viewer", password=STRONG_PASSWORD)
        db.session.commit()
    client = app.test_client()
    login(client, "pool-check@example.jp", STRONG_PASSWORD)
    assert client.get("/admin/").status_code == 200
    killed = _pooled_connection_ids(app)
    _kill(migrated_mariadb, killed)
    time.sleep(0.3)  # idle for longer than the ping threshold, as any connection is across a restart

    page = client.get("/admin/")

    assert page.status_code == 200
    assert "ダッシュボード" in page.get_data(as_text=True)
    assert _pooled_connection_ids(app).isdisjoint(killed)
    with app.app_context():
        db.engine.dispose()


def test_work_a_session_did_not_commit_never_reaches_the_next_user_of_its_connection(app):
    with app.app_context():
        db.session.add(NewsItem(title="未確定のお知らせ", body="コミットしない", publish_from=utcnow()))
        db.session.flush()
        db.session.remove()  # what the end of a request does
        assert db.session.scalar(sa.select(sa.func.count()).select_from(NewsItem)) == 0


def test_work_a_core_connection_did_not_commit_never_reaches_the_next_user_of_its_connection(app):
    table = NewsItem.__table__
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(table.insert().values(title="未確定", body="コミットしない", publish_from=utcnow()))
        with db.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
