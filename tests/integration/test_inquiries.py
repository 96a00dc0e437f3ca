"""N9 inquiries: the registrant's contact form lands in correspondence history and notifies staff without
personal data; staff reply from there (correspondence + mail + inbox) — on SQLite and MariaDB."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.correspondence.models import Correspondence
from app.extensions import db
from app.inbox.models import Message, MessageRecipient
from app.inquiries import services
from app.inquiries.models import Inquiry
from app.mail.models import MailSuppression, OutboxMessage
from app.outputs.models import OutputRecord
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SUBJECT = "勤務条件について"
BODY = "持病があり、午前中のみの勤務を希望しています。\n相談できますか。"


def portal_client(app: Flask, registrant: Any) -> Any:
    client = app.test_client()
    assert login(client, registrant.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def staff_client(app: Flask, user: Any) -> Any:
    client = app.test_client()
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302
    return client


def send_inquiry(client: Any, subject: str = SUBJECT, body: str = BODY) -> Any:
    """Write, confirm, send — the way the pages lead."""
    token = csrf_token(client, "/inquiries/new")
    confirm = client.post("/inquiries/new", data={"csrf_token": token, "subject": subject, "body": body,
                                                  "confirm": "1"})
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "お問い合わせ内容の確認" in page, page
    return client.post("/inquiries/new", data={"csrf_token": token, "subject": subject, "body": body, "send": "1"})


def outbox(app: Flask, category: str) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.category == category)
                                  .order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def test_an_inquiry_lands_in_correspondence_and_staff_get_a_notice_without_its_text(app, make_staff,
                                                                                      make_registrant):
    editor, admin, viewer = make_staff("editor"), make_staff("administrator"), make_staff("viewer")
    registrant = make_registrant(family_name="森", given_name="葵", email="aoi@example.com")
    me = portal_client(app, registrant)
    response = send_inquiry(me)
    assert response.status_code == 302 and response.headers["Location"] == "/inquiries/sent"
    assert "お問い合わせを受け付けました" in me.get("/inquiries/sent").get_data(as_text=True)
    with app.app_context():
        inquiry = db.session.scalar(sa.select(Inquiry))
        entry = db.session.get(Correspondence, inquiry.correspondence_id)
        channel = db.session.get(Code, entry.channel_id)
        assert (inquiry.registrant_id, inquiry.status) == (registrant.id, "open")
        assert (entry.subject, entry.body, entry.staff_id, entry.staff_name) == (
            SUBJECT, BODY, None, "(登録者からの問い合わせ)")
        assert (channel.kind, channel.code, channel.label) == ("correspondence_channel", "inquiry", "問い合わせフォーム")
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "inquiry.create"))
        assert (event.actor_kind, event.actor_id) == ("registrant", registrant.id)
        assert "持病" not in event.detail and SUBJECT not in event.detail
        inquiry_id = inquiry.id
    notices = outbox(app, services.NOTICE_CATEGORY)
    assert sorted(m.to_address for m in notices) == sorted([editor.email, admin.email])  # not the viewer
    assert viewer.email not in [m.to_address for m in notices]
    for mail in notices:
        text = mail.subject + mail.body_text
        assert app.extensions["tsunagu.settings"].public_url(f"/admin/inquiries/{inquiry_id}") in text
        for secret in ("森", "葵", "aoi@example.com", "持病", SUBJECT):
            assert secret not in text
        assert mail.registrant_id is None
    # staff see it in the list, in the registrant's correspondence history and in the correspondence list
    staff = staff_client(app, editor)
    listing = staff.get("/admin/inquiries").get_data(as_text=True)
    assert SUBJECT in listing and "森 葵" in listing and "未対応" in listing
    assert SUBJECT in staff.get(f"/admin/registrants/{registrant.id}").get_data(as_text=True)
    correspondence = staff.get("/admin/correspondence/").get_data(as_text=True)
    assert f"/admin/inquiries/{inquiry_id}" in correspondence


@pytest.mark.parametrize("settings_overrides", [{"inquiry_notify_to": "desk@example.com, ,help@example.com"}])
def test_the_channel_code_is_reused_and_inquiry_notify_to_overrides_the_staff_list(app, make_staff,
                                                                                   make_registrant):
    make_staff("editor")
    with app.app_context():
        db.session.add(Code(kind="correspondence_channel", code="inquiry", label="フォーム(既存)"))
        db.session.commit()
    send_inquiry(portal_client(app, make_registrant()))
    with app.app_context():
        codes = db.session.scalars(sa.select(Code).where(Code.code == "inquiry")).all()
        assert [c.label for c in codes] == ["フォーム(既存)"]
    assert [m.to_address for m in outbox(app, services.NOTICE_CATEGORY)] == ["desk@example.com", "help@example.com"]


def test_the_confirm_page_can_go_back_with_the_text_kept(app, make_registrant):
    me = portal_client(app, make_registrant())
    token = csrf_token(me, "/inquiries/new")
    response = me.post("/inquiries/new", data={"csrf_token": token, "subject": SUBJECT, "body": BODY, "edit": "1"})
    page = response.get_data(as_text=True)
    assert "確認画面へ" in page and SUBJECT in page and "午前中のみ" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Inquiry)) == 0


@pytest.mark.parametrize(("subject", "body", "message"), [
    ("", BODY, "入力してください。"),
    (SUBJECT, "", "入力してください。"),
    (SUBJECT, "あ" * 4001, "4000"),
    ("x" * 201, BODY, "200"),
    (SUBJECT, "本文\x07", "使用できない制御文字が含まれています。"),
])
def test_bad_inquiries_get_a_message_and_store_nothing(app, make_registrant, subject, body, message):
    me = portal_client(app, make_registrant())
    token = csrf_token(me, "/inquiries/new")
    response = me.post("/inquiries/new", data={"csrf_token": token, "subject": subject, "body": body, "send": "1"})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Correspondence)) == 0


def test_sending_is_limited_per_account_and_the_text_is_kept(app, make_registrant):
    me, other = portal_client(app, make_registrant()), portal_client(app, make_registrant())
    for n in range(5):
        assert send_inquiry(me, subject=f"質問{n}").status_code == 302
    refused = send_inquiry(me, subject="六件目の質問")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "1時間に5件" in page and "六件目の質問" in page and "午前中のみ" in page
    assert send_inquiry(other).status_code == 302  # another account has its own allowance
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Inquiry)) == 6


def test_a_registrant_sees_only_their_own_inquiries(app, make_registrant):
    me, other = make_registrant(), make_registrant()
    send_inquiry(portal_client(app, other), subject="他人の問い合わせ")
    mine = portal_client(app, me)
    send_inquiry(mine)
    page = mine.get("/inquiries/").get_data(as_text=True)
    assert SUBJECT in page and "未対応" in page and "他人の問い合わせ" not in page


def reply(staff: Any, inquiry_id: int, **values: Any) -> Any:
    path = f"/admin/inquiries/{inquiry_id}"
    return staff.post(f"{path}/reply", data={"csrf_token": csrf_token(staff, path), "subject": "Re: " + SUBJECT,
                                             "body": "午前のみの勤務も可能です。", **values})


def only_inquiry_id(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Inquiry.id)))


def test_a_staff_reply_is_recorded_mailed_and_delivered_to_the_inbox(app, make_staff, make_registrant):
    editor = make_staff("editor")
    registrant = make_registrant(email="noconsent@example.com", mail_consent=False)
    me = portal_client(app, registrant)
    send_inquiry(me)
    inquiry_id = only_inquiry_id(app)
    staff = staff_client(app, editor)
    detail = staff.get(f"/admin/inquiries/{inquiry_id}").get_data(as_text=True)
    assert "持病があり" in detail and 'value="Re: 勤務条件について"' in detail
    response = reply(staff, inquiry_id)
    assert response.status_code == 302
    assert "回答を送信し、対応履歴に記録しました。" in staff.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        inquiry = db.session.get(Inquiry, inquiry_id)
        answer = db.session.get(Correspondence, inquiry.reply_correspondence_id)
        assert (inquiry.status, inquiry.answered_by_id) == ("answered", editor.id)
        assert db.session.get(Code, answer.channel_id).code == "mail"
        assert (answer.staff_id, answer.body, answer.registrant_id) == (editor.id, "午前のみの勤務も可能です。",
                                                                       registrant.id)
        inbox = db.session.scalars(sa.select(Message).join(MessageRecipient).where(
            MessageRecipient.registrant_id == registrant.id)).all()
        assert [m.subject for m in inbox] == ["Re: " + SUBJECT]
        record = db.session.scalar(sa.select(OutputRecord).where(OutputRecord.title == "問い合わせへの回答"))
        assert (record.kind, record.row_count) == ("mail", 1)
    mails = outbox(app, services.REPLY_CATEGORY)  # a reply they asked for: sent without marketing consent
    assert [(m.to_address, m.subject) for m in mails] == [("noconsent@example.com", "Re: " + SUBJECT)]
    assert "午前のみの勤務も可能です。" in mails[0].body_text and "山田 花子 様" in mails[0].body_text
    with app.app_context():  # the inbox copy sends no second mail
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.registrant_id == registrant.id)) == 1
    # both rows in the registrant's correspondence history; the registrant sees the answer in their list
    history = staff.get(f"/admin/registrants/{registrant.id}").get_data(as_text=True)
    assert history.count(SUBJECT) >= 2
    own = me.get("/inquiries/").get_data(as_text=True)
    assert "回答済み" in own and "午前のみの勤務も可能です。" in own


def test_no_reply_mail_to_a_suppressed_address_but_the_reply_is_recorded(app, make_staff, make_registrant):
    registrant = make_registrant(email="bounced@example.com")
    with app.app_context():
        db.session.add(MailSuppression(address="bounced@example.com", reason="hard_bounce"))
        db.session.commit()
    send_inquiry(portal_client(app, registrant))
    inquiry_id = only_inquiry_id(app)
    staff = staff_client(app, make_staff("editor"))
    response = reply(staff, inquiry_id)
    assert "配信停止のため、メールは送っていません" in staff.get(response.headers["Location"]).get_data(as_text=True)
    assert outbox(app, services.REPLY_CATEGORY) == []
    with app.app_context():
        assert db.session.get(Inquiry, inquiry_id).status == "answered"


def test_an_empty_reply_is_refused_and_close_and_filter_work(app, make_staff, make_registrant):
    send_inquiry(portal_client(app, make_registrant()))
    send_inquiry(portal_client(app, make_registrant()), subject="二件目")
    with app.app_context():
        first, second = db.session.scalars(sa.select(Inquiry.id).order_by(Inquiry.id)).all()
    staff = staff_client(app, make_staff("editor"))
    refused = reply(staff, first, body="")
    assert refused.status_code == 400 and "入力してください。" in refused.get_data(as_text=True)
    path = f"/admin/inquiries/{second}"
    assert staff.post(f"{path}/close", data={"csrf_token": csrf_token(staff, path)}).status_code == 302
    with app.app_context():
        assert db.session.get(Inquiry, second).status == "closed"
        assert services.status_counts(db.session) == {"open": 1, "answered": 0, "closed": 1}
    closed = staff.get("/admin/inquiries?status=closed").get_data(as_text=True)
    assert "二件目" in closed and SUBJECT not in closed
    assert "二件目" not in staff.get("/admin/inquiries?status=open").get_data(as_text=True)
    assert staff.get("/admin/inquiries?status=bogus").status_code == 200  # a forged filter shows everything
    assert staff.post(f"{path}/reopen", data={"csrf_token": csrf_token(staff, path)}).status_code == 302
    with app.app_context():
        assert db.session.get(Inquiry, second).status == "open"


def test_a_viewer_reads_inquiries_but_cannot_reply_or_close(app, make_staff, make_registrant):
    send_inquiry(portal_client(app, make_registrant()))
    inquiry_id = only_inquiry_id(app)
    viewer = staff_client(app, make_staff("viewer"))
    page = viewer.get(f"/admin/inquiries/{inquiry_id}").get_data(as_text=True)
    assert SUBJECT in page and "回答を送信" not in page
    token = csrf_token(viewer, "/admin/")
    assert reply(viewer, inquiry_id).status_code == 403
    assert viewer.post(f"/admin/inquiries/{inquiry_id}/close", data={"csrf_token": token}).status_code == 403


def test_the_demo_inquiries_load_once(app):
    import random

    from app.demo.services import DEMO_REGISTRANT_EMAIL, load_demo
    from app.inquiries import demo
    from app.registrants.models import Registrant

    with app.app_context():
        load_demo(db.session, registrant_count=20)
        demo.load(db.session, random.Random(1))
        db.session.commit()
        demo.load(db.session, random.Random(1))
        db.session.commit()
        rows = db.session.scalars(sa.select(Inquiry).order_by(Inquiry.id)).all()
        assert [r.status for r in rows] == ["answered", "open"]
        me = db.session.scalar(sa.select(Registrant).where(Registrant.email == DEMO_REGISTRANT_EMAIL))
        assert rows[0].registrant_id == me.id and rows[0].reply_correspondence_id is not None
        # the demo inquiries send no mail (other demo content may: the bulk messages are mailed)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.category.in_([services.NOTICE_CATEGORY, services.REPLY_CATEGORY]))) == 0
