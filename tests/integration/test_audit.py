"""The audit history: a hash chain, `flask audit verify`, and the administrator's audit page
(PRODUCT §5 audit trail; S-A15)."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from app import audit
from app.audit.models import AuditEvent
from app.audit.services import GENESIS_HASH, compute_hash
from app.extensions import db
from tests.conftest import STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)


def record_events(app, *actions: str) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        for n, action in enumerate(actions, start=1):
            audit.record(db.session, audit.SYSTEM, action, f"registrant:{900 + n}", {"n": n}, "192.0.2.1")
        db.session.commit()


def run_sql(app, statement: str, **params) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.session.execute(sa.text(statement), params)
        db.session.commit()


def verify(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_record_chains_each_row_to_the_previous_one(app):
    """Each row's prev_hash is the row_hash of the row before; the first links to the genesis hash."""
    record_events(app, "staff.create", "auth.unlock", "registrant.view", "demo.load")
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert events[0].prev_hash == GENESIS_HASH
        for before, after in itertools.pairwise(events):
            assert after.prev_hash == before.row_hash
        for event in events:
            assert event.row_hash == compute_hash(event) and len(event.row_hash) == 64
        assert json.loads(events[0].detail) == {"n": 1}
        assert (events[0].actor_kind, events[0].actor_id, events[0].actor_label) == ("system", None, "system")


def test_record_commits_with_the_callers_transaction(app):
    """The event and the change it records commit together or not at all."""
    with app.app_context():
        audit.record(db.session, audit.SYSTEM, "staff.create", "staff:1", {})
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_verify_reports_an_intact_chain(app):
    """`flask audit verify` exits 0 and says "intact" on an untouched chain (also when it is empty)."""
    empty = verify(app)
    assert empty.exit_code == 0 and "intact" in empty.output
    record_events(app, "staff.create", "auth.unlock", "demo.load")
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "3 rows" in result.output


def test_verify_names_a_row_edited_by_hand(app):
    """A raw UPDATE of one row's detail is found: exit 1, and the message names seq 2."""
    record_events(app, "staff.create", "auth.unlock", "demo.load")
    run_sql(app, "UPDATE audit_event SET detail = :detail WHERE seq = 2", detail='{"n": 99}')
    result = verify(app)
    assert result.exit_code == 1
    assert "seq 2" in result.stderr and "intact" not in result.stdout


def test_verify_finds_an_edit_whose_row_hash_was_recomputed(app):
    """Rewriting a row and its own hash breaks the link from the next row, which is named."""
    record_events(app, "staff.create", "auth.unlock", "demo.load")
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.seq == 2)).one()
        event.detail = '{"n": 99}'
        event.row_hash = compute_hash(event)
        db.session.commit()
    result = verify(app)
    assert result.exit_code == 1
    assert "seq 3" in result.stderr


def test_verify_detects_a_deleted_middle_row_as_a_gap(app):
    record_events(app, "staff.create", "auth.unlock", "demo.load", "registrant.view")
    run_sql(app, "DELETE FROM audit_event WHERE seq = 2")
    result = verify(app)
    assert result.exit_code == 1
    assert "seq 2" in result.stderr and "gap" in result.stderr


# --- the audit page ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_audit_page_is_for_administrators_only(client, make_staff, role):
    """PRODUCT §5: the audit history is an administrator page; an editor or viewer gets 403."""
    user = make_staff(role)
    login(client, user.email, STRONG_PASSWORD)
    assert client.get("/admin/audit").status_code == 403


def _row(target: str) -> str:
    return f"<td>{target}</td>"


def test_audit_page_filters_by_action_and_tokyo_date(app, client, make_staff):
    """S-A15: filter by action prefix and by calendar day in Asia/Tokyo."""
    record_events(app, "staff.create", "auth.unlock", "demo.load")  # registrant:901 .. 903
    run_sql(app, "UPDATE audit_event SET occurred_at = :at WHERE seq = 1", at=datetime(2025, 1, 10, 3, 0))
    # 16:00 UTC on the 10th is 01:00 on the 11th in Tokyo
    run_sql(app, "UPDATE audit_event SET occurred_at = :at WHERE seq = 2", at=datetime(2025, 1, 10, 16, 0))
    run_sql(app, "UPDATE audit_event SET occurred_at = :at WHERE seq = 3", at=datetime(2025, 1, 9, 14, 59))
    admin = make_staff("administrator")
    login(client, admin.email, STRONG_PASSWORD)

    everything = client.get("/admin/audit")
    assert everything.status_code == 200
    text = everything.get_data(as_text=True)
    assert all(_row(f"registrant:{n}") in text for n in (901, 902, 903))

    by_action = client.get("/admin/audit?action=auth.unlock").get_data(as_text=True)
    assert _row("registrant:902") in by_action
    assert _row("registrant:901") not in by_action and _row("registrant:903") not in by_action

    by_prefix = client.get("/admin/audit?action=staff.").get_data(as_text=True)
    assert _row("registrant:901") in by_prefix and _row("registrant:902") not in by_prefix

    on_the_10th = client.get("/admin/audit?date_from=2025-01-10&date_to=2025-01-10").get_data(as_text=True)
    assert _row("registrant:901") in on_the_10th
    assert _row("registrant:902") not in on_the_10th  # already the 11th in Tokyo
    assert _row("registrant:903") not in on_the_10th  # still the 9th in Tokyo

    from_the_11th = client.get("/admin/audit?date_from=2025-01-11").get_data(as_text=True)
    assert _row("registrant:902") in from_the_11th and _row("registrant:901") not in from_the_11th

    system_only = client.get("/admin/audit?actor_kind=system&action=auth.").get_data(as_text=True)
    assert _row("registrant:902") in system_only
    assert f"staff:{admin.id}" not in system_only  # the administrator's own auth.login is a staff event
