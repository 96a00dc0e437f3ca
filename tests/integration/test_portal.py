"""The registrant portal (S-R2 top page and login, S2 own data only, S-R5 guide; issue item 5):
own record with every field, read-only fields owned by the e-application system, own-profile editing
for self-registered people, consent preferences with history, and the withdrawal request.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.extensions import db
from app.mail.models import OutboxMessage
from app.registrants.models import ConsentRecord, Registrant
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

CODES = [("region", "goto", "五島"), ("region", "iki", "壱岐"), ("licence", "jh_1", "中学校教諭一種"),
         ("subject", "math", "数学"), ("subject", "science", "理科"), ("job_type", "club_coach", "部活動指導員"),
         ("school_type", "junior_high", "中学校")]


@pytest.fixture
def codes(app: Any) -> dict[str, int]:
    with app.app_context():
        rows = {code: Code(kind=kind, code=code, label=label, label_en=code.title(), sort_order=n)
                for n, (kind, code, label) in enumerate(CODES)}
        db.session.add_all(rows.values())
        db.session.commit()
        return {code: row.id for code, row in rows.items()}


def attach_codes(app: Any, registrant_id: int, names: list[str], region: str) -> None:
    with app.app_context():
        registrant = db.session.get(Registrant, registrant_id)
        registrant.codes = list(db.session.scalars(sa.select(Code).where(Code.code.in_(names))))
        registrant.region = db.session.scalar(sa.select(Code).where(Code.code == region))
        db.session.commit()


def logged_in(app: Any, email: str) -> Any:
    client = app.test_client()
    assert login(client, email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def actions(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def row(app: Any, registrant_id: int) -> Registrant:
    with app.app_context():
        found = db.session.get(Registrant, registrant_id)
        db.session.expunge(found)
        return found


def test_top_page_has_login_guide_and_an_empty_news_section(client):
    """S-R2: the top page shows news (empty for now, clearly) and the login."""
    html = client.get("/").get_data(as_text=True)
    assert "新着情報" in html and "現在、お知らせはありません。" in html
    assert 'href="/login"' in html and 'href="/guide"' in html
    assert 'href="/register"' not in html  # self-registration is off by default


def test_guide_explains_each_step_with_headings_and_numbered_steps(client, settings_overrides):
    """S-R5: how to register, log in, set and reset the password, renew each year and withdraw."""
    html = client.get("/guide").get_data(as_text=True)
    for heading in ("登録のしかた", "はじめてのパスワード設定", "ログインのしかた", "パスワードを忘れたとき",
                    "毎年度の更新", "退会するとき"):
        assert f">{heading}</h2>" in html, heading
    assert html.count('<ol class="steps">') >= 6
    assert client.get("/privacy").status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"e_application_url": "https://apply.example.jp/form/123"}])
def test_guide_links_to_the_e_application_system_when_configured(client, settings_overrides):
    html = client.get("/guide").get_data(as_text=True)
    assert "電子申請システムから登録する" in html and 'href="https://apply.example.jp/form/123"' in html


def test_me_shows_every_field_of_the_own_record_and_nothing_of_others(app, make_registrant, codes):
    """S2: all fields, code labels, consents, status and validity; another registrant's data never appears."""
    hanako = make_registrant(email="hanako@example.com", birth_date=date(1985, 4, 1), phone="095-000-0001",
                             postal_code="850-8570", address="長崎市尾上町3-1", former_department="教育庁",
                             left_year=2020, career_note="中学校で10年勤務", interests="部活動の指導",
                             availability_note="平日の午後", privacy_notice_version="2026-04",
                             mail_consent=False, source="e_application")
    other = make_registrant(email="ichiro@example.com", family_name="鈴木", given_name="一郎",
                            family_name_kana="スズキ", given_name_kana="イチロウ", phone="095-999-9999")
    attach_codes(app, hanako.id, ["jh_1", "math", "science", "club_coach", "junior_high"], "goto")
    attach_codes(app, other.id, ["club_coach"], "iki")
    client = logged_in(app, "hanako@example.com")
    html = client.get("/me").get_data(as_text=True)
    for expected in ("山田 花子", "ヤマダ ハナコ", "hanako@example.com", "1985年4月1日", "095-000-0001", "850-8570",
                     "長崎市尾上町3-1", "五島", "中学校教諭一種", "数学、理科", "部活動指導員", "中学校",
                     "教育庁", "2020", "中学校で10年勤務", "部活動の指導", "平日の午後", "2027年3月31日", "有効",
                     "2026-04版", "受け取らない", "電子申請システム"):
        assert expected in html, expected
    for foreign in ("鈴木", "ichiro@example.com", "095-999-9999", "壱岐"):
        assert foreign not in html, foreign


def test_me_ignores_any_id_in_the_query_string(app, make_registrant):
    """Parameter tampering: /me has no id to tamper with; an id in the query changes nothing."""
    make_registrant(email="hanako@example.com")
    other = make_registrant(email="ichiro@example.com", family_name="鈴木")
    client = logged_in(app, "hanako@example.com")
    for url in (f"/me?registrant_id={other.id}", f"/me?id={other.id}", f"/me/preferences?registrant_id={other.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "鈴木" not in html and "ichiro@example.com" not in html, url


@pytest.mark.parametrize("path", ["/me", "/me/profile", "/me/preferences", "/me/withdraw", "/me/password"])
def test_registrant_pages_need_a_registrant_login(client, make_staff, path):
    assert client.get(path).headers["Location"].startswith("/login")
    staff = make_staff("administrator")
    login(client, staff.email, STRONG_PASSWORD)
    assert client.get(path).headers["Location"].startswith("/login")  # a staff login is not a registrant login


@pytest.mark.parametrize("settings_overrides", [{"e_application_url": "https://apply.example.jp/form/123"}])
def test_e_application_fields_are_read_only_with_a_link_there(app, make_registrant, settings_overrides):
    make_registrant(email="hanako@example.com", source="e_application")
    client = logged_in(app, "hanako@example.com")
    html = client.get("/me").get_data(as_text=True)
    assert 'href="https://apply.example.jp/form/123"' in html and "電子申請システムで変更する" in html
    assert 'href="/me/profile"' not in html
    assert client.get("/me/profile").status_code == 403
    token = csrf_token(client, "/me/preferences")
    response = client.post("/me/profile", data={"csrf_token": token, "family_name": "改ざん", "given_name": "花子",
                                                "family_name_kana": "カイザン", "given_name_kana": "ハナコ"})
    assert response.status_code == 403
    assert count_rows(app, Registrant) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(Registrant.family_name)) == "山田"


def test_without_an_e_application_url_the_page_says_to_contact_the_office(app, make_registrant):
    make_registrant(email="hanako@example.com", source="import")
    html = logged_in(app, "hanako@example.com").get("/me").get_data(as_text=True)
    assert "登録内容の変更は、事務局へご連絡ください。" in html


def test_a_self_registered_person_edits_their_profile_with_the_shared_validation(app, make_registrant, codes):
    hanako = make_registrant(email="hanako@example.com", source="self")
    client = logged_in(app, "hanako@example.com")
    page = client.get("/me/profile")
    assert page.status_code == 200 and 'value="山田"' in page.get_data(as_text=True)
    token = csrf_token(client, "/me/profile")
    form = {"csrf_token": token, "family_name": "山田", "given_name": "花子", "family_name_kana": "やまだ",
            "given_name_kana": "はなこ", "birth_date": "昭和60年4月1日", "phone": "095-000-0002",
            "postal_code": "8508570", "region": "iki", "job_types": ["club_coach"], "subjects": ["math"],
            "left_year": "2021", "career_note": "小学校で5年"}
    bad = client.post("/me/profile", data={**form, "given_name_kana": "Hanako", "birth_date": "1985-02-30"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "カタカナかひらがな" in text and "存在しない日付" in text
    assert row(app, hanako.id).phone is None  # nothing saved

    saved = client.post("/me/profile", data=form)
    assert saved.status_code == 302 and saved.headers["Location"] == "/me"
    after = row(app, hanako.id)
    assert (after.birth_date, after.phone, after.left_year) == (date(1985, 4, 1), "095-000-0002", 2021)
    html = client.get("/me").get_data(as_text=True)
    assert "壱岐" in html and "部活動指導員" in html and "数学" in html and "小学校で5年" in html
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "registrant.self_update")).one()
        assert event.target == f"registrant:{hanako.id}" and "phone" in event.detail and "095" not in event.detail


def test_preferences_change_writes_a_consent_record_and_an_audit_row(app, make_registrant):
    hanako = make_registrant(email="hanako@example.com", mail_consent=True, data_use_consent=True,
                             privacy_notice_version="2026-04")
    client = logged_in(app, "hanako@example.com")
    page = client.get("/me/preferences").get_data(as_text=True)
    assert 'name="mail_consent"' in page and "checked" in page
    token = csrf_token(client, "/me/preferences")
    response = client.post("/me/preferences", data={"csrf_token": token, "data_use_consent": "y"})  # mail unticked
    assert response.status_code == 302
    after = row(app, hanako.id)
    assert after.mail_consent is False and after.data_use_consent is True
    with app.app_context():
        [record] = db.session.scalars(sa.select(ConsentRecord)).all()
        assert (record.kind, record.granted, record.source, record.notice_version) == ("mail", False, "self",
                                                                                        "2026-04")
    assert actions(app).count("registrant.consent_change") == 1
    # the same choices again change nothing and record nothing
    client.post("/me/preferences", data={"csrf_token": token, "data_use_consent": "y"})
    assert count_rows(app, ConsentRecord) == 1
    history = client.get("/me/preferences").get_data(as_text=True)
    assert "お知らせメールの受信" in history and "同意の取り消し" in history


def test_withdrawal_request_is_recorded_confirmed_by_mail_and_shown(app, make_registrant):
    hanako = make_registrant(email="hanako@example.com")
    client = logged_in(app, "hanako@example.com")
    confirm = client.get("/me/withdraw").get_data(as_text=True)
    assert "退会を申し出る" in confirm and "メール・同意の設定" in confirm
    assert row(app, hanako.id).withdrawal_requested_at is None  # a GET changes nothing
    token = csrf_token(client, "/me/withdraw")
    assert client.post("/me/withdraw", data={"csrf_token": token}).headers["Location"] == "/me"
    after = row(app, hanako.id)
    assert after.withdrawal_requested_at is not None and after.status == "active"  # staff complete it
    assert "退会のお申し出を受け付けています" in client.get("/me").get_data(as_text=True)
    client.post("/me/withdraw", data={"csrf_token": token})
    with app.app_context():
        [mail] = db.session.scalars(sa.select(OutboxMessage)).all()
        assert (mail.category, mail.to_address, mail.registrant_id) == ("withdrawal_request", "hanako@example.com",
                                                                        hanako.id)
    assert actions(app).count("registrant.withdrawal_requested") == 1


def test_me_has_a_slot_for_the_renewal_box(app):
    """The yearly renewal box (S5) is included where the call-to-action belongs, if it exists."""
    source = app.jinja_env.loader.get_source(app.jinja_env, "portal/me.html")[0]
    assert '{% include "lifecycle/_renewal_box.html" ignore missing %}' in source
