"""S-A12 in the registrant portal: open postings for logged-in registrants (only open, in their publish window,
marked for the portal; nothing when the setting is off), the new-posting mail wish and desired work regions."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit import SYSTEM
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db
from app.postings import services
from app.registrants.models import ConsentRecord, Registrant
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

CODES = [("school_type", "junior_high", "中学校"), ("region", "nagasaki", "長崎市"), ("region", "goto", "五島市"),
         ("region", "iki", "壱岐市"), ("job_type", "fulltime_lecturer", "常勤講師"), ("subject", "math", "数学"),
         ("licence", "jh_1", "中学校教諭一種"), ("tag", "briefing", "説明会参加")]
CONTACT = "架空市立第一中学校 事務室 000-000-0001 school01@example.com"


@pytest.fixture
def codes(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = {code: Code(kind=kind, code=code, label=label, sort_order=n * 10)
                for n, (kind, code, label) in enumerate(CODES)}
        db.session.add_all(rows.values())
        db.session.commit()
        return {code: row.id for code, row in rows.items()}


def make_posting(app: Flask, codes: dict[str, int], title: str, status: str = "open", **changes: Any) -> int:
    values = services.PostingValues(
        title=title, school_name="架空市立第一中学校", school_type=codes["junior_high"], region=codes["nagasaki"],
        job_type=codes["fulltime_lecturer"], subjects=[codes["math"]], required_licences=[codes["jh_1"]],
        period_start=date(2030, 6, 1), period_end=date(2031, 3, 31), openings=1, contact=CONTACT,
        description="第2学年の数学を担当。")
    for name, value in changes.items():
        setattr(values, name, value)
    with app.app_context():
        posting = services.save_posting(db.session, SYSTEM, values)
        if status != "draft":
            services.set_status(db.session, SYSTEM, posting, "open")
            if status != "open":
                services.set_status(db.session, SYSTEM, posting, status)
        db.session.commit()
        return posting.id


def logged_in(app: Flask, email: str) -> Any:
    client = app.test_client()
    assert login(client, email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def test_registrants_see_only_open_postings_inside_their_window(app, codes, make_registrant):
    now = utcnow()
    shown = make_posting(app, codes, "中学校 数学 常勤講師")
    windowed = make_posting(app, codes, "期間内の求人", publish_from=now - timedelta(days=1),
                            publish_until=now + timedelta(days=1))
    hidden = {
        "draft": make_posting(app, codes, "下書きの求人", "draft"),
        "filled": make_posting(app, codes, "充足の求人", "filled"),
        "closed": make_posting(app, codes, "終了の求人", "closed"),
        "not_for_portal": make_posting(app, codes, "掲載しない求人", show_in_portal=False),
        "not_yet": make_posting(app, codes, "掲載前の求人", publish_from=now + timedelta(days=2)),
    }
    with app.app_context():  # a window that has ended since it was opened
        from app.postings.models import JobPosting

        ended = make_posting(app, codes, "掲載終了の求人", publish_until=now + timedelta(days=1))
        db.session.execute(sa.update(JobPosting).where(JobPosting.id == ended)
                           .values(publish_until=now - timedelta(minutes=1)))
        db.session.commit()
    hidden["ended"] = ended
    make_registrant(email="hanako@example.com")
    client = logged_in(app, "hanako@example.com")
    html = client.get("/postings/").get_data(as_text=True)
    assert "中学校 数学 常勤講師" in html and "期間内の求人" in html and "2 件" in html
    for title in ("下書きの求人", "充足の求人", "終了の求人", "掲載しない求人", "掲載前の求人", "掲載終了の求人"):
        assert title not in html
    detail = client.get(f"/postings/{shown}").get_data(as_text=True)
    assert "中学校教諭一種" in detail and CONTACT in detail and "第2学年の数学を担当。" in detail
    assert client.get(f"/postings/{windowed}").status_code == 200
    for posting_id in hidden.values():
        assert client.get(f"/postings/{posting_id}").status_code == 404
    assert client.get("/postings/999999").status_code == 404


def test_the_portal_list_is_newest_first_and_paginated(app, codes, make_registrant):
    now = utcnow()
    for n in range(services.PORTAL_PER_PAGE + 1):
        make_posting(app, codes, f"求人{n:03d}", publish_from=now - timedelta(hours=100 - n))
    make_registrant(email="hanako@example.com")
    client = logged_in(app, "hanako@example.com")
    first = client.get("/postings/").get_data(as_text=True)
    assert first.index("求人020") < first.index("求人019") and "求人000" not in first
    assert "1 / 2 ページ" in first
    second = client.get("/postings/?page=2").get_data(as_text=True)
    assert "求人000" in second and "求人020" not in second
    assert client.get("/postings/?page=abc").status_code == 200  # a bad page number is the first page


def test_postings_need_a_registrant_login(app, codes, make_staff):
    posting_id = make_posting(app, codes, "中学校 数学 常勤講師")
    client = app.test_client()
    for path in ("/postings/", f"/postings/{posting_id}"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    staff = make_staff("editor")
    login(client, staff.email, STRONG_PASSWORD)
    assert client.get("/postings/").status_code == 302  # staff use the admin screens


@pytest.mark.parametrize("settings_overrides", [{"portal_show_postings": False}])
def test_with_the_setting_off_there_are_no_posting_pages(app, codes, make_registrant, settings_overrides):
    posting_id = make_posting(app, codes, "中学校 数学 常勤講師")
    make_registrant(email="hanako@example.com")
    assert app.test_client().get("/postings/").status_code == 404
    client = logged_in(app, "hanako@example.com")
    assert client.get("/postings/").status_code == 404
    assert client.get(f"/postings/{posting_id}").status_code == 404
    assert "/postings/" not in client.get("/me").get_data(as_text=True)


def test_the_registrant_page_links_to_postings(app, make_registrant):
    make_registrant(email="hanako@example.com")
    html = logged_in(app, "hanako@example.com").get("/me").get_data(as_text=True)
    assert 'href="/postings/"' in html and "求人情報を見る" in html


def _actions(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def _registrant(app: Flask, registrant_id: int) -> Registrant:
    with app.app_context():
        found = db.session.get(Registrant, registrant_id)
        found.codes  # noqa: B018 (load before leaving the session)
        db.session.expunge(found)
        return found


def test_the_new_posting_mail_wish_is_saved_and_audited(app, make_registrant, make_staff):
    hanako = make_registrant(email="hanako@example.com", mail_consent=True, data_use_consent=True)
    client = logged_in(app, "hanako@example.com")
    page = client.get("/me/preferences").get_data(as_text=True)
    assert "条件に合う新着求人をメールで受け取る" in page and "お知らせメールを受け取る設定" in page
    token = csrf_token(client, "/me/preferences")
    both = {"csrf_token": token, "mail_consent": "y", "data_use_consent": "y"}
    response = client.post("/me/preferences", data={**both, "posting_notice_opt_in": "y"})
    assert response.status_code == 302
    assert _registrant(app, hanako.id).posting_notice_opt_in is True
    [event] = _actions(app, "registrant.posting_notice_change")
    assert event.target == f"registrant:{hanako.id}" and json.loads(event.detail) == {"opt_in": True}
    assert count_rows(app, ConsentRecord) == 0  # not a consent of its own: the mail consent governs sending
    assert "設定を保存しました。" in client.get("/me/preferences").get_data(as_text=True)
    client.post("/me/preferences", data={**both, "posting_notice_opt_in": "y"})  # unchanged: nothing recorded
    assert len(_actions(app, "registrant.posting_notice_change")) == 1
    # without the mail consent the wish stays, and the page says no such mail will come
    client.post("/me/preferences", data={"csrf_token": token, "data_use_consent": "y", "posting_notice_opt_in": "y"})
    page = client.get("/me/preferences").get_data(as_text=True)
    assert "新着求人のメールは届きません" in page
    staff = make_staff("viewer")
    admin = app.test_client()
    login(admin, staff.email, STRONG_PASSWORD)
    detail = admin.get(f"/admin/registrants/{hanako.id}").get_data(as_text=True)
    assert "新着求人のメール" in detail and "希望する" in detail
    client.post("/me/preferences", data={**both})
    assert _registrant(app, hanako.id).posting_notice_opt_in is False
    assert [json.loads(e.detail) for e in _actions(app, "registrant.posting_notice_change")] == [
        {"opt_in": True}, {"opt_in": False}]


PROFILE = {"family_name": "山田", "given_name": "花子", "family_name_kana": "ヤマダ", "given_name_kana": "ハナコ",
           "region": "nagasaki", "licences": ["jh_1"], "subjects": ["math"]}


def test_desired_work_regions_are_saved_apart_from_the_residence(app, codes, make_registrant, make_staff):
    hanako = make_registrant(email="hanako@example.com", source="self")
    with app.app_context():  # a staff tag, which the profile form must leave alone
        registrant = db.session.get(Registrant, hanako.id)
        registrant.codes = [db.session.get(Code, codes["briefing"])]
        db.session.commit()
    client = logged_in(app, "hanako@example.com")
    page = client.get("/me/profile").get_data(as_text=True)
    assert "勤務を希望する地域" in page and 'name="desired_regions"' in page
    token = csrf_token(client, "/me/profile")
    response = client.post("/me/profile", data={"csrf_token": token, **PROFILE, "desired_regions": ["goto", "iki"]})
    assert response.status_code == 302
    saved = _registrant(app, hanako.id)
    assert saved.region_id == codes["nagasaki"]
    assert {c.code for c in saved.codes_of("region")} == {"goto", "iki"}
    assert {c.code for c in saved.codes} == {"goto", "iki", "jh_1", "math", "briefing"}
    [event] = _actions(app, "registrant.self_update")
    assert "desired_regions" in json.loads(event.detail)["fields"]
    me = client.get("/me").get_data(as_text=True)
    assert "五島市、壱岐市" in me
    edit = client.get("/me/profile").get_data(as_text=True)
    assert edit.count("checked") >= 4  # both regions, the licence and the subject stay ticked

    bad = client.post("/me/profile", data={"csrf_token": token, **PROFILE, "desired_regions": ["atlantis"]})
    assert bad.status_code == 200 and "勤務を希望する地域「atlantis」はコードマスタにありません" in bad.get_data(as_text=True)
    assert {c.code for c in _registrant(app, hanako.id).codes_of("region")} == {"goto", "iki"}

    client.post("/me/profile", data={"csrf_token": token, **PROFILE})  # none ticked: anywhere
    assert _registrant(app, hanako.id).codes_of("region") == []
    staff = make_staff("viewer")
    admin = app.test_client()
    login(admin, staff.email, STRONG_PASSWORD)
    detail = admin.get(f"/admin/registrants/{hanako.id}").get_data(as_text=True)
    assert "勤務を希望する地域" in detail and "指定なし(どこでも)" in detail
