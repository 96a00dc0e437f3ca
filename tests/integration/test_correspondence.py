"""S-A4/S-A5 correspondence history: entries per registrant, every earlier version kept, search, roles, audit."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.correspondence import services
from app.correspondence.models import Correspondence, CorrespondenceRevision
from app.extensions import db
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SECRET_BODY = "電話で勤務条件を相談。持病あり、午前のみ希望。"


@pytest.fixture
def channels(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = [Code(kind="correspondence_channel", code=code, label=label, sort_order=n)
                for n, (code, label) in enumerate([("phone", "電話"), ("mail", "メール"), ("meeting", "面談"),
                                                   ("counter", "窓口"), ("letter", "書面"), ("other", "その他")])]
        db.session.add_all(rows)
        db.session.commit()
        return {r.code: r.id for r in rows}


def _form(client: Any, path: str, **values: Any) -> dict[str, Any]:
    return {"csrf_token": csrf_token(client, path), "occurred_at": "2026-06-01T10:30", "subject": "勤務条件の相談",
            "body": SECRET_BODY, "outcome": "", "follow_up_on": "", **values}


def _create(client: Any, registrant_id: int, **values: Any) -> Any:
    path = f"/admin/correspondence/registrants/{registrant_id}/new"
    return client.post(path, data=_form(client, path, **values))


def test_create_then_edit_keeps_the_previous_version(app, channels, make_staff, make_registrant):
    editor, registrant = make_staff("editor"), make_registrant()
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    response = _create(client, registrant.id, channel=channels["phone"], follow_up_on="2026-06-10")
    assert response.status_code == 302
    with app.app_context():
        entry = db.session.scalar(sa.select(Correspondence))
        assert entry.staff_id == editor.id and entry.staff_name == editor.display_name
        assert entry.occurred_at == datetime(2026, 6, 1, 1, 30)  # typed in Tokyo time, stored in UTC
        assert entry.follow_up_on == date(2026, 6, 10) and entry.body == SECRET_BODY
        entry_id = entry.id
    page = client.get(f"/admin/registrants/{registrant.id}").get_data(as_text=True)
    assert "勤務条件の相談" in page and f"/admin/correspondence/registrants/{registrant.id}/new" in page
    path = f"/admin/correspondence/{entry_id}/edit"
    response = client.post(path, data=_form(client, path, channel=channels["meeting"], subject="面談の結果",
                                            body="面談した。", outcome="4月から勤務"))
    assert response.status_code == 302
    path2 = f"/admin/correspondence/{entry_id}/edit"
    client.post(path2, data=_form(client, path2, channel=channels["meeting"], subject="面談の結果(訂正)",
                                  body="面談した。", outcome="5月から勤務"))
    with app.app_context():
        entry = db.session.get(Correspondence, entry_id)
        assert (entry.subject, entry.outcome, entry.follow_up_on) == ("面談の結果(訂正)", "5月から勤務", None)
        revisions = db.session.scalars(sa.select(CorrespondenceRevision).order_by(CorrespondenceRevision.id)).all()
        assert [(r.subject, r.body, r.channel_id, r.follow_up_on) for r in revisions] == [
            ("勤務条件の相談", SECRET_BODY, channels["phone"], date(2026, 6, 10)),
            ("面談の結果", "面談した。", channels["meeting"], None)]
        assert all(r.edited_by_id == editor.id and r.edited_by_name == editor.display_name for r in revisions)
    detail = client.get(f"/admin/correspondence/{entry_id}").get_data(as_text=True)
    assert "勤務条件の相談" in detail and "面談の結果(訂正)" in detail and "4月から勤務" in detail


def test_an_unchanged_save_writes_no_revision(app, channels, make_staff, make_registrant):
    editor, registrant = make_staff("editor"), make_registrant()
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    _create(client, registrant.id, channel=channels["phone"])
    with app.app_context():
        entry_id = db.session.scalar(sa.select(Correspondence.id))
    path = f"/admin/correspondence/{entry_id}/edit"
    client.post(path, data=_form(client, path, channel=channels["phone"]))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CorrespondenceRevision.id))) == 0


def test_body_length_is_limited(app, channels, make_staff, make_registrant):
    editor, registrant = make_staff("editor"), make_registrant()
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    response = _create(client, registrant.id, channel=channels["phone"], body="あ" * 4001)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Correspondence.id))) == 0


def test_search_by_text_channel_staff_dates_and_follow_up(app, channels, make_staff, make_registrant):
    first, second = make_staff("editor"), make_staff("editor")
    alice, bob = make_registrant(), make_registrant()
    with app.app_context():
        for actor, registrant, when, channel, subject, body, outcome, follow in (
                (first, alice, datetime(2026, 4, 1, 0, 0), "phone", "更新の案内", "年度更新について説明", "了解", None),
                (first, bob, datetime(2026, 4, 10, 14, 59), "mail", "書類送付", "必要書類を送った", None,
                 date(2026, 4, 20)),
                (second, alice, datetime(2026, 4, 10, 15, 0), "meeting", "面談", "勤務条件 100% 希望", "採用",
                 date(2026, 5, 1))):
            staff = db.session.merge(actor)
            services.create(db.session, staff, registrant.id, occurred_at=when, channel_id=channels[channel],
                            subject=subject, body=body, outcome=outcome, follow_up_on=follow)
        db.session.commit()

        def subjects(**criteria: Any) -> list[str]:
            return [e.subject for e in services.search(db.session, services.Criteria(**criteria)).items]

        assert subjects() == ["面談", "書類送付", "更新の案内"]
        assert subjects(text="年度更新") == ["更新の案内"]
        assert subjects(text="了解") == ["更新の案内"]  # outcome
        assert subjects(text="100%") == ["面談"]  # LIKE wildcards are literal
        assert subjects(text="%") == ["面談"]
        assert subjects(channel_id=channels["mail"]) == ["書類送付"]
        assert subjects(staff_id=second.id) == ["面談"]
        # 2026-04-10 14:59 UTC is 23:59 on the 10th in Tokyo; 15:00 UTC is already the 11th
        assert subjects(occurred_from=date(2026, 4, 10), occurred_to=date(2026, 4, 10)) == ["書類送付"]
        assert subjects(occurred_from=date(2026, 4, 11)) == ["面談"]
        assert subjects(follow_up_by=date(2026, 4, 30)) == ["書類送付"]
        assert subjects(follow_up_by=date(2026, 5, 1)) == ["面談", "書類送付"]
        page = services.search(db.session, services.Criteria(), page=2, per_page=2)
        assert page.total == 3 and page.pages == 2 and [e.subject for e in page.items] == ["更新の案内"]
    client = app.test_client()
    login(client, first.email, STRONG_PASSWORD)
    html = client.get(f"/admin/correspondence/?q=書類&channel={channels['mail']}&date_from=2026-04-01"
                      "&follow_up_by=2026-04-30").get_data(as_text=True)
    assert "書類送付" in html and "更新の案内" not in html and "面談</a>" not in html


def test_viewer_reads_but_cannot_create_or_edit(app, channels, make_staff, make_registrant):
    viewer, editor, registrant = make_staff("viewer"), make_staff("editor"), make_registrant()
    with app.app_context():
        entry = services.create(db.session, db.session.merge(editor), registrant.id, occurred_at=datetime(2026, 4, 1),
                                channel_id=channels["phone"], subject="閲覧用", body="本文")
        db.session.commit()
        entry_id = entry.id
    client = app.test_client()
    login(client, viewer.email, STRONG_PASSWORD)
    assert "閲覧用" in client.get("/admin/correspondence/").get_data(as_text=True)
    assert client.get(f"/admin/correspondence/{entry_id}").status_code == 200
    detail = client.get(f"/admin/registrants/{registrant.id}").get_data(as_text=True)
    new_path = f"/admin/correspondence/registrants/{registrant.id}/new"
    assert "閲覧用" in detail and new_path not in detail
    token = csrf_token(client, "/admin/correspondence/")
    assert client.get(new_path).status_code == 403
    assert client.get(f"/admin/correspondence/{entry_id}/edit").status_code == 403
    data = {"csrf_token": token, "occurred_at": "2026-06-01T10:30", "channel": channels["phone"], "subject": "x",
            "body": "y"}
    assert client.post(new_path, data=data).status_code == 403
    assert client.post(f"/admin/correspondence/{entry_id}/edit", data=data).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Correspondence.id))) == 1
        assert db.session.get(Correspondence, entry_id).subject == "閲覧用"


def test_audit_records_create_and_edit_without_the_body(app, channels, make_staff, make_registrant):
    editor, registrant = make_staff("editor"), make_registrant()
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    _create(client, registrant.id, channel=channels["phone"])
    with app.app_context():
        entry_id = db.session.scalar(sa.select(Correspondence.id))
    path = f"/admin/correspondence/{entry_id}/edit"
    client.post(path, data=_form(client, path, channel=channels["phone"], body=SECRET_BODY + "追記あり"))
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("correspondence.%"))
                                    .order_by(AuditEvent.seq)).all()
    assert [(e.action, e.target, e.actor_id) for e in events] == [
        ("correspondence.create", f"correspondence:{entry_id}", editor.id),
        ("correspondence.edit", f"correspondence:{entry_id}", editor.id)]
    assert json.loads(events[1].detail)["changed"] == ["body"]
    for event in events:
        assert SECRET_BODY[:6] not in event.detail and "勤務条件の相談" not in event.detail
