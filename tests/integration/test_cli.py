"""The `flask` commands an operator runs: staff accounts, demo data, migrations (PRODUCT §4 operations)."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.audit.models import AuditEvent
from app.core.timeutil import utcnow
from app.extensions import db
from app.registrants.models import Registrant
from app.staff.models import StaffUser
from tests.conftest import SECRET, STRONG_PASSWORD, count_rows, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def flask(app, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


# --- staff create / unlock -------------------------------------------------------------------------

def test_staff_create_reads_the_password_from_stdin_and_the_user_can_log_in(app, client):
    result = flask(app, "staff", "create", "Kaori.Sato@Example.com", "--role", "viewer", "--password-stdin",
                   stdin=STRONG_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created staff user" in result.stdout
    assert STRONG_PASSWORD not in result.output
    with app.app_context():
        user = db.session.scalars(sa.select(StaffUser)).one()
        assert (user.email, user.role, user.display_name) == ("kaori.sato@example.com", "viewer", "Kaori.Sato")
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staff.create")).one()
        assert event.actor_kind == "system"
    response = login(client, "kaori.sato@example.com", STRONG_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")


def test_staff_create_refuses_a_weak_password_with_the_reason_on_stderr(app):
    result = flask(app, "staff", "create", "weak@example.com", "--role", "editor", "--password-stdin",
                   stdin="Password2026!\n")
    assert result.exit_code != 0
    assert "error:" in result.stderr and "推測されやすいパスワード" in result.stderr
    assert "error:" not in result.stdout
    assert count_rows(app, StaffUser) == 0


def test_staff_create_refuses_a_bad_role(app):
    result = flask(app, "staff", "create", "who@example.com", "--role", "root", "--password-stdin",
                   stdin=STRONG_PASSWORD + "\n")
    assert result.exit_code != 0
    assert "--role" in result.stderr and "root" in result.stderr
    assert count_rows(app, StaffUser) == 0


def test_staff_create_refuses_a_duplicate_and_an_empty_password(app, make_staff):
    make_staff("viewer", email="taken@example.com")
    duplicate = flask(app, "staff", "create", "TAKEN@example.com", "--role", "viewer", "--password-stdin",
                      stdin=STRONG_PASSWORD + "\n")
    assert duplicate.exit_code == 1 and "すでに登録されています" in duplicate.stderr
    empty = flask(app, "staff", "create", "new@example.com", "--role", "viewer", "--password-stdin", stdin="\n")
    assert empty.exit_code == 1 and "no password" in empty.stderr
    assert count_rows(app, StaffUser) == 1


def test_staff_unlock_clears_a_lock(app, client, make_staff):
    user = make_staff("editor", email="locked@example.com")
    with app.app_context():
        db.session.execute(sa.update(StaffUser).where(StaffUser.id == user.id).values(
            locked_until=utcnow() + timedelta(minutes=30), failed_login_count=5,
            failure_window_started_at=utcnow()))
        db.session.commit()
    assert login(client, user.email, STRONG_PASSWORD).status_code == 200  # locked: refused
    result = flask(app, "staff", "unlock", "LOCKED@example.com")
    assert result.exit_code == 0, result.output
    with app.app_context():
        unlocked = db.session.get(StaffUser, user.id)
        assert not unlocked.is_locked() and unlocked.failed_login_count == 0
        assert db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)).all()[-1] == "auth.unlock"
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302


def test_staff_unlock_of_an_unknown_email_fails(app):
    result = flask(app, "staff", "unlock", "nobody@example.com")
    assert result.exit_code == 1 and "no staff user" in result.stderr


# --- demo data -------------------------------------------------------------------------------------

def test_demo_load_fills_an_empty_database_once(app, client, tmp_path):
    """`flask demo load`: 200 registrants and 3 staff; a second run changes nothing."""
    app.instance_path = str(tmp_path)  # the logins file goes to the instance folder
    first = flask(app, "demo", "load")
    assert first.exit_code == 0, first.output
    assert count_rows(app, Registrant) == 200
    assert count_rows(app, StaffUser) == 3
    logins_file = tmp_path / "demo-logins.txt"
    assert stat.S_IMODE(logins_file.stat().st_mode) == 0o600
    logins = [line.split() for line in logins_file.read_text(encoding="utf-8").splitlines()]
    assert {role for _kind, role, _email, _password in logins} == {"administrator", "editor", "viewer", "registrant"}

    with app.app_context():
        before = db.session.execute(sa.select(StaffUser.id, StaffUser.password_hash)).all()
        events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    second = flask(app, "demo", "load")
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert count_rows(app, Registrant) == 200 and count_rows(app, StaffUser) == 3
    with app.app_context():
        assert db.session.execute(sa.select(StaffUser.id, StaffUser.password_hash)).all() == before
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events

    _kind, _role, email, password = next(entry for entry in logins if entry[1] == "administrator")
    assert login(client, email, password).status_code == 302


# --- migrations ------------------------------------------------------------------------------------

def _schema(app) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        tables = sorted(sa.inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            versions = sorted(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        return tables, versions


def test_db_upgrade_is_idempotent(app):
    """`flask db upgrade` on an up-to-date database succeeds and changes nothing."""
    before = _schema(app)
    for _ in range(2):
        result = flask(app, "db", "upgrade")
        assert result.exit_code == 0, result.output
    assert _schema(app) == before


def test_db_upgrade_builds_an_empty_database_and_repeats_cleanly(tmp_path: Path):
    fresh = create_app({"secret_key": SECRET, "database_url": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
                        "auth_log": str(tmp_path / "auth.log")})
    first = flask(fresh, "db", "upgrade")
    assert first.exit_code == 0, first.output
    tables, versions = _schema(fresh)
    assert {"staff_user", "registrant", "audit_event", "login_session"} <= set(tables)
    assert len(versions) == 1
    second = flask(fresh, "db", "upgrade")
    assert second.exit_code == 0, second.output
    assert _schema(fresh) == (tables, versions)
    with fresh.app_context():
        db.engine.dispose()
