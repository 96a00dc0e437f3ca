"""Self-registration (N1; issue item 6): sign-up with e-mail verification in the open and approval modes,
no disclosure of registered addresses, QR referral codes, staff invitations, and the staff mail view.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.extensions import db
from app.mail.models import OutboxMessage
from app.mail.services import deliver_due
from app.registrants.models import ConsentRecord, ReferralCode, Registrant, StatusChange
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

NEW_PASSWORD = "Hakodate2027Goryokaku"
LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/[A-Za-z0-9_\-/]+)")


@pytest.fixture
def mode() -> str:
    return "open"


@pytest.fixture
def settings_overrides(mode: str) -> dict[str, Any]:
    return {"self_registration": mode}


@pytest.fixture
def codes(app: Any) -> None:
    with app.app_context():
        db.session.add_all([Code(kind="region", code="goto", label="五島"),
                            Code(kind="job_type", code="club_coach", label="部活動指導員"),
                            Code(kind="school_type", code="junior_high", label="中学校")])
        db.session.commit()


def form_data(client: Any, **changes: Any) -> dict[str, Any]:
    data = {"csrf_token": csrf_token(client, "/register"), "family_name": "佐藤", "given_name": "美咲",
            "family_name_kana": "サトウ", "given_name_kana": "ミサキ", "email": "misaki@example.com",
            "birth_date": "1990-05-05", "region": "goto", "job_types": ["club_coach"],
            "school_types": ["junior_high"], "privacy_consent": "y", "data_use_consent": "y"}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def sign_up(client: Any, **changes: Any) -> Any:
    return client.post("/register", data=form_data(client, **changes))


def deliver(app: Any, port: int) -> None:
    with app.app_context():
        deliver_due(db.session, dataclasses.replace(app.extensions["tsunagu.settings"], smtp_port=port))


def link_in(text: str, prefix: str) -> str:
    for path in LINK_RE.findall(text):
        if path.startswith(prefix):
            return path
    raise AssertionError(f"no {prefix} link in:\n{text}")


def registrant(app: Any, email: str = "misaki@example.com") -> Registrant | None:
    with app.app_context():
        found = db.session.scalar(sa.select(Registrant).where(Registrant.email == email))
        if found is not None:
            db.session.expunge(found)
        return found


def actions(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def staff_client(app: Any, make_staff: Any, role: str) -> Any:
    user = make_staff(role)
    client = app.test_client()
    login(client, user.email, STRONG_PASSWORD)
    return client


def post(client: Any, url: str, page: str = "/admin/registrations/", **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


@pytest.mark.parametrize("mode", ["off"])
def test_sign_up_is_closed_when_self_registration_is_off(app, client):
    assert client.get("/register").status_code == 404
    assert client.post("/register", data={"email": "x@example.com"}).status_code in {400, 404}
    assert client.get("/r/anything").headers["Location"] == "/guide"
    assert 'href="/register"' not in client.get("/").get_data(as_text=True)


def test_open_mode_sign_up_verification_and_password_from_a_qr_code(app, client, codes,
                                                                    smtp_server):  # noqa: F811
    """N1 open: QR landing → form → pending + consents → verification mail → link → password → active, logged in."""
    inbox, port = smtp_server
    with app.app_context():
        db.session.add(ReferralCode(code="flyer2026", label="令和8年度パンフレット", medium="pamphlet"))
        db.session.commit()
        referral_id = db.session.scalar(sa.select(ReferralCode.id))
    landing = client.get("/r/flyer2026")
    assert landing.status_code == 302 and landing.headers["Location"] == "/register"
    page = client.get("/register").get_data(as_text=True)
    assert "個人情報の取扱い" in page and "五島" in page and 'href="/privacy"' in page

    response = sign_up(client)
    assert response.status_code == 302 and response.headers["Location"] == "/register/sent"
    assert "確認メールをお送りしました" in client.get("/register/sent").get_data(as_text=True)
    created = registrant(app)
    assert created is not None
    assert (created.source, created.status, created.referral_id, created.privacy_notice_version) == (
        "self", "pending", referral_id, "2026-04")
    assert created.mail_consent is False and created.data_use_consent is True and created.password_hash is None
    with app.app_context():
        kinds = {(r.kind, r.granted) for r in db.session.scalars(sa.select(ConsentRecord))}
        assert kinds == {("privacy_notice", True), ("mail", False), ("data_use", True)}

    deliver(app, port)
    [mail] = inbox.to("misaki@example.com")
    assert mail["Subject"] == "【つなぐ】メールアドレスの確認のお願い"
    path = link_in(mail.get_content(), "/register/verify/")
    fresh = app.test_client()  # the mail may be opened on another device
    redirect = fresh.get(path)
    assert redirect.headers["Location"] == "/register/verify"
    assert redirect.headers["Referrer-Policy"] == "no-referrer"
    assert "パスワードの設定" in fresh.get("/register/verify").get_data(as_text=True)
    weak = fresh.post("/register/verify", data={"csrf_token": csrf_token(fresh, "/register/verify"),
                                                "new_password": "short", "confirm": "short"})
    assert "12文字以上" in weak.get_data(as_text=True)
    assert registrant(app).status == "pending"
    done = fresh.post("/register/verify", data={"csrf_token": csrf_token(fresh, "/register/verify"),
                                                "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/me"
    assert "佐藤 美咲" in fresh.get("/me").get_data(as_text=True)
    after = registrant(app)
    assert after.status == "active" and after.email_verified_at is not None and after.password_hash
    with app.app_context():
        history = [(c.from_status, c.to_status, c.reason) for c in
                   db.session.scalars(sa.select(StatusChange).order_by(StatusChange.id))]
    assert history == [(None, "pending", "self_registration"), ("pending", "active", "self_registration_verified")]
    assert {"registrant.self_registered", "registrant.email_verified", "auth.login"} <= set(actions(app))


@pytest.mark.parametrize("mode", ["approval"])
def test_approval_mode_waits_for_staff_then_sends_the_invitation(app, client, codes, make_staff,
                                                                 smtp_server):  # noqa: F811
    """N1 approval: verified registrations wait; a viewer cannot approve, an editor can; approval mails a setup link."""
    inbox, port = smtp_server
    sign_up(client)
    deliver(app, port)
    path = link_in(inbox.to("misaki@example.com")[0].get_content(), "/register/verify/")
    client.get(path)
    page = client.get("/register/verify").get_data(as_text=True)
    assert "メールアドレスを確認する" in page
    assert registrant(app).email_verified_at is None  # the GET changed nothing
    confirmed = client.post("/register/verify", data={"csrf_token": csrf_token(client, "/register/verify")})
    assert confirmed.headers["Location"] == "/register/verified"
    assert "事務局が登録内容を確認します" in client.get("/register/verified").get_data(as_text=True)
    waiting = registrant(app)
    assert waiting.status == "pending" and waiting.email_verified_at is not None
    assert login(app.test_client(), "misaki@example.com", NEW_PASSWORD, realm="portal").status_code == 200

    viewer = staff_client(app, make_staff, "viewer")
    listing = viewer.get("/admin/registrations/").get_data(as_text=True)
    assert "佐藤 美咲" in listing and f"/admin/registrations/{waiting.id}/approve" not in listing
    assert post(viewer, f"/admin/registrations/{waiting.id}/approve").status_code == 403
    assert registrant(app).status == "pending"

    editor = staff_client(app, make_staff, "editor")
    assert f"/admin/registrations/{waiting.id}/approve" in editor.get("/admin/registrations/").get_data(as_text=True)
    assert post(editor, f"/admin/registrations/{waiting.id}/approve").status_code == 302
    approved = registrant(app)
    assert approved.status == "active" and approved.approved_at is not None
    assert "registrant.approve" in actions(app)

    deliver(app, port)
    invitation = [m for m in inbox.to("misaki@example.com") if m["Subject"] == "【つなぐ】パスワード設定のご案内"]
    assert len(invitation) == 1
    setup = app.test_client()
    setup.get(link_in(invitation[0].get_content(), "/account/setup/"))
    done = setup.post("/account/setup", data={"csrf_token": csrf_token(setup, "/account/setup"),
                                              "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.headers["Location"] == "/me"
    assert "佐藤 美咲" in setup.get("/me").get_data(as_text=True)


@pytest.mark.parametrize("mode", ["approval"])
def test_an_editor_can_reject_a_pending_registration(app, client, codes, make_staff):
    sign_up(client)
    pending = registrant(app)
    editor = staff_client(app, make_staff, "editor")
    assert post(editor, f"/admin/registrations/{pending.id}/reject").status_code == 302
    assert registrant(app).status == "withdrawn"
    assert "registrant.reject" in actions(app)
    # a rejected registration's verification link no longer works
    with app.app_context():
        body = db.session.scalar(sa.select(OutboxMessage.body_text).where(OutboxMessage.category == "verification"))
    client.get(link_in(body, "/register/verify/"))
    assert client.get("/register/verify").status_code == 400


def test_a_registered_address_gets_the_same_answer_and_a_mail_instead(app, client, codes, make_registrant,
                                                                      smtp_server):  # noqa: F811
    """No disclosure: the page and redirect are identical; the address's owner is told by mail."""
    inbox, port = smtp_server
    make_registrant(email="hanako@example.com")
    new = sign_up(client, email="new@example.com")
    known = sign_up(client, email="HANAKO@example.com")
    assert (new.status_code, new.headers["Location"]) == (known.status_code, known.headers["Location"])
    assert count_rows(app, Registrant) == 2  # only new@example.com was created
    deliver(app, port)
    [notice] = inbox.to("hanako@example.com")
    assert notice["Subject"] == "【つなぐ】すでにご登録いただいています"
    assert "/account/reset" in notice.get_content()
    # trying again soon sends nothing more (no mail bombing through the form)
    sign_up(client, email="hanako@example.com")
    assert count_rows(app, OutboxMessage) == 2


def test_signing_up_again_before_verifying_sends_a_fresh_link(app, client, codes):
    sign_up(client)
    with app.app_context():
        db.session.execute(sa.update(OutboxMessage).values(created_at=datetime(2000, 1, 1)))
        db.session.commit()
    sign_up(client, family_name="別人")
    assert count_rows(app, Registrant) == 1 and registrant(app).family_name == "佐藤"
    with app.app_context():
        assert len(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.category == "verification"))
                   .all()) == 2


def test_privacy_consent_is_required_and_invalid_fields_lose_nothing(app, client, codes):
    response = sign_up(client, privacy_consent=None)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "個人情報の取扱いへの同意が必要です" in html
    bad = sign_up(client, given_name_kana="misaki", region="atlantis")
    text = bad.get_data(as_text=True)
    assert "カタカナかひらがな" in text and "コードマスタにありません" in text
    assert 'value="佐藤"' in text and 'value="misaki@example.com"' in text  # what was typed stays
    assert count_rows(app, Registrant) == 0 and count_rows(app, OutboxMessage) == 0


def test_referral_codes_admin_qr_downloads_and_counts(app, client, codes, make_staff):
    editor = staff_client(app, make_staff, "editor")
    page = "/admin/registrations/referrals"
    created = post(editor, page, page, label="夏のイベント", medium="event")
    assert created.status_code == 302
    with app.app_context():
        code = db.session.scalar(sa.select(ReferralCode))
        db.session.expunge(code)
    assert code.is_active and len(code.code) >= 12

    png = editor.get(f"{page}/{code.id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = editor.get(f"{page}/{code.id}/qr.svg")
    assert svg.mimetype == "image/svg+xml"
    assert ET.fromstring(svg.data).tag == "{http://www.w3.org/2000/svg}svg"  # noqa: S314 (our own output)
    assert f"http://127.0.0.1:5000/r/{code.code}".encode() in svg.data  # the title names what it encodes

    client.get(f"/r/{code.code}")
    sign_up(client)
    assert registrant(app).referral_id == code.id
    listing = editor.get(page).get_data(as_text=True)
    assert "夏のイベント" in listing and "<td>1</td>" in listing

    viewer = staff_client(app, make_staff, "viewer")
    assert viewer.get(f"{page}/{code.id}/qr.png").status_code == 200
    assert post(viewer, page, page, label="x", medium="web").status_code == 403
    assert post(viewer, f"{page}/{code.id}/deactivate", page).status_code == 403
    assert post(editor, f"{page}/{code.id}/deactivate", page).status_code == 302
    with app.app_context():
        assert db.session.get(ReferralCode, code.id).is_active is False
    other = app.test_client()
    other.get(f"/r/{code.code}")
    sign_up(other, email="other@example.com")
    assert registrant(app, "other@example.com").referral_id is None  # a retired code is not recorded
    assert {"referral.create", "referral.deactivate"} <= set(actions(app))


def test_staff_invite_an_address_to_register_without_creating_an_account(app, make_staff):
    editor = staff_client(app, make_staff, "editor")
    page = "/admin/registrations/invite"
    assert post(editor, page, page, email="friend@example.com").status_code == 302
    with app.app_context():
        [mail] = db.session.scalars(sa.select(OutboxMessage)).all()
        assert (mail.category, mail.to_address, mail.registrant_id) == ("registration_invite", "friend@example.com",
                                                                        None)
        assert "http://127.0.0.1:5000/register" in mail.body_text
    assert count_rows(app, Registrant) == 0
    assert "registration.invite" in actions(app)
    refused = post(editor, page, page, email="not an address")
    assert "形式が正しくありません" in refused.get_data(as_text=True)
    viewer = staff_client(app, make_staff, "viewer")
    assert viewer.get(page).status_code == 403
    assert post(viewer, page, "/admin/", email="x@example.com").status_code == 403
    assert count_rows(app, OutboxMessage) == 1


def test_staff_complete_a_withdrawal_request(app, make_registrant, make_staff):
    hanako = make_registrant(email="hanako@example.com")
    portal = app.test_client()
    login(portal, "hanako@example.com", STRONG_PASSWORD, realm="portal")
    portal.post("/me/withdraw", data={"csrf_token": csrf_token(portal, "/me/withdraw")})
    editor = staff_client(app, make_staff, "editor")
    assert "山田 花子" in editor.get("/admin/registrations/").get_data(as_text=True)
    assert post(editor, f"/admin/registrations/{hanako.id}/withdraw").status_code == 302
    assert registrant(app, "hanako@example.com").status == "withdrawn"
    with app.app_context():
        categories = sorted(db.session.scalars(sa.select(OutboxMessage.category)))
    assert categories == ["withdrawal_done", "withdrawal_request"]
    assert portal.get("/me").status_code == 302  # a withdrawn registrant can no longer log in


@pytest.mark.parametrize("settings_overrides", [{"self_registration": "open",
                                                 "public_base_url": "https://tsunagu.pref.example.jp"}])
def test_mail_view_masks_addresses_for_non_admins_and_hides_live_links(app, client, codes, make_staff):
    """Staff mail view: status for everyone with VIEW, addresses and bodies for administrators only,
    one-time links never readable on a real deployment."""
    sign_up(client)
    with app.app_context():
        message_id = db.session.scalar(sa.select(OutboxMessage.id))
    viewer = staff_client(app, make_staff, "viewer")
    listing = viewer.get("/admin/mail/").get_data(as_text=True)
    assert "mi***@example.com" in listing and "misaki@example.com" not in listing
    assert "メールアドレスの確認" in listing and "送信待ち" in listing
    assert viewer.get(f"/admin/mail/{message_id}").status_code == 403

    admin = staff_client(app, make_staff, "administrator")
    assert "misaki@example.com" in admin.get("/admin/mail/?status=pending").get_data(as_text=True)
    detail = admin.get(f"/admin/mail/{message_id}").get_data(as_text=True)
    assert "https://tsunagu.pref.example.jp/register/verify/[redacted]" in detail
    with app.app_context():
        body = db.session.get(OutboxMessage, message_id).body_text
    token = body.split("/register/verify/")[1].split()[0]
    assert token not in detail
    assert "mail.view" in actions(app)
    assert admin.get("/admin/mail/?status=bogus&page=-3").status_code == 200


def test_mail_view_shows_links_on_a_local_demo(app, client, codes, make_staff):
    sign_up(client)
    admin = staff_client(app, make_staff, "administrator")
    with app.app_context():
        message_id = db.session.scalar(sa.select(OutboxMessage.id))
    detail = admin.get(f"/admin/mail/{message_id}").get_data(as_text=True)
    assert re.search(r"http://127\.0\.0\.1:5000/register/verify/[A-Za-z0-9_\-]{40,}", detail)
