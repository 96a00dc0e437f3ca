"""N6 bulk messages and the in-app inbox: compose → confirm → send, read state per registrant, e-mail only
to those who may receive it, direct messages, and the figures for the monthly report."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db
from app.inbox import services
from app.inbox.models import Message, MessageRecipient
from app.mail.models import MailCampaign, MailSuppression, OutboxMessage
from app.outputs.models import OutputRecord
from app.registrants.models import Registrant
from app.searches.models import SavedSearch
from app.staff.models import StaffUser
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

NEW = "/admin/messages/new"
BODY = "来月の交流会についてお知らせします。\n\n詳しくは https://example.com/event をご覧ください。"


@pytest.fixture
def people(make_registrant) -> dict[str, object]:
    """Active with consent (two), active without consent, active but suppressed, withdrawn, expired."""
    return {
        "hanako": make_registrant(email="hanako@example.com"),
        "taro": make_registrant(email="taro@example.com", family_name="佐藤", given_name="太郎"),
        "no_consent": make_registrant(email="quiet@example.com", mail_consent=False),
        "suppressed": make_registrant(email="bounced@example.com"),
        "withdrawn": make_registrant(email="gone@example.com", status="withdrawn"),
        "expired": make_registrant(email="old@example.com", status="expired"),
    }


@pytest.fixture
def suppressed(app, people) -> None:
    with app.app_context():
        db.session.add(MailSuppression(address="bounced@example.com", reason="hard_bounce"))
        db.session.commit()


def _staff_client(app: Flask, make_staff, role: str = "editor"):
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _portal(app: Flask, registrant):
    client = app.test_client()
    assert login(client, registrant.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def _compose(**overrides) -> dict[str, str]:
    return {"subject": "交流会のお知らせ", "body": BODY, "audience": "all_active", "saved_search": "0",
            "send_email": "y", **overrides}


def _send(client, **overrides):
    return client.post("/admin/messages/send", data={"csrf_token": csrf_token(client, NEW), **_compose(**overrides)})


def _recipients(app: Flask, message_id: int) -> dict[int, MessageRecipient]:
    with app.app_context():
        rows = db.session.scalars(sa.select(MessageRecipient).where(MessageRecipient.message_id == message_id)).all()
        for row in rows:
            db.session.expunge(row)
        return {row.registrant_id: row for row in rows}


def test_confirm_step_counts_then_send_reaches_the_active_and_mails_only_the_eligible(
        app, make_staff, people, suppressed):
    editor = _staff_client(app, make_staff)
    page = editor.post(NEW, data={"csrf_token": csrf_token(editor, NEW), **_compose()})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "送信内容の確認" in text
    counts = re.findall(r'<span class="stat-value">([\d,]+)</span>', text)
    assert counts == ["4", "2"]  # inbox: the four active; mail: hanako and taro
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0  # nothing sent yet

    response = _send(editor)
    assert response.status_code == 302
    with app.app_context():
        message = db.session.scalars(sa.select(Message)).one()
        campaign = db.session.get(MailCampaign, message.mail_campaign_id)
        outbox = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.registrant_id)).all()
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "message.send")).one()
        history = db.session.scalars(sa.select(OutputRecord)).one()
        assert (message.audience, message.recipient_count, message.send_email) == ("all_active", 4, True)
        assert campaign is not None and campaign.recipient_count == 2
        assert json.loads(event.detail)["emailed"] == 2 and "交流会" not in event.detail
        assert history.kind == "mail" and history.row_count == 2
    recipients = _recipients(app, message.id)
    ids = {name: person.id for name, person in people.items()}
    assert set(recipients) == {ids["hanako"], ids["taro"], ids["no_consent"], ids["suppressed"]}
    assert {rid for rid, row in recipients.items() if row.emailed} == {ids["hanako"], ids["taro"]}
    assert [row.registrant_id for row in outbox] == [ids["hanako"], ids["taro"]]
    mail = outbox[0]
    assert mail.subject == "【つなぐ】新しいメッセージ: 交流会のお知らせ"
    assert "山田 花子 様" in mail.body_text and "佐藤" not in mail.body_text  # only their own name
    assert "http://127.0.0.1:5000/inbox" in mail.body_text and "来月の交流会" not in mail.body_text
    assert response.headers["Location"].endswith(f"/admin/messages/{message.id}")


def test_list_and_detail_show_counts_read_rate_and_the_chart(app, make_staff, people):
    editor = _staff_client(app, make_staff)
    assert _send(editor, send_email="").status_code == 302
    with app.app_context():
        message_id = db.session.scalar(sa.select(Message.id))
    _portal(app, people["hanako"]).get(f"/inbox/{message_id}")
    listing = editor.get("/admin/messages").get_data(as_text=True)
    row = listing[listing.index("交流会のお知らせ"):]
    cells = re.findall(r'<td class="num">([^<]+)</td>', row)[:4]
    assert cells == ["4", "1", "25.0%", "0"]  # four active (expired and withdrawn left out), one read, nobody mailed
    viewer = _staff_client(app, make_staff, "viewer")
    detail = viewer.get(f"/admin/messages/{message_id}").get_data(as_text=True)
    assert '<svg class="read-chart" role="img"' in detail and "既読 1 人、未読 3 人(既読率 25.0%)" in detail
    assert "hanako@example.com" not in detail and "山田" not in detail  # no per-person list


def test_saved_search_audience_reaches_only_its_active_matches(app, make_staff, people):
    editor = make_staff("editor")
    with app.app_context():
        island = Code(kind="region", code="island", label="架空島町")
        db.session.add(island)
        db.session.flush()
        db.session.execute(sa.update(Registrant).where(Registrant.id.in_([people["taro"].id, people["withdrawn"].id]))
                           .values(region_id=island.id))
        saved = SavedSearch(name="島の登録者", owner_id=editor.id, is_shared=False,
                            criteria=json.dumps({"regions": [island.id]}), columns="name", sort="")
        db.session.add(saved)
        db.session.commit()
        saved_id = saved.id
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    assert _send(client, audience="saved_search", saved_search=str(saved_id)).status_code == 302
    with app.app_context():
        message = db.session.scalars(sa.select(Message)).one()
        assert (message.audience, message.saved_search_id) == ("saved_search", saved_id)
    assert set(_recipients(app, message.id)) == {people["taro"].id}


def test_someone_elses_private_saved_search_cannot_be_used(app, make_staff, people):
    owner = make_staff("editor")
    with app.app_context():
        saved = SavedSearch(name="非公開", owner_id=owner.id, is_shared=False, criteria="{}", columns="name", sort="")
        db.session.add(saved)
        db.session.commit()
        saved_id = saved.id
    other = _staff_client(app, make_staff)
    response = _send(other, audience="saved_search", saved_search=str(saved_id))
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


@pytest.mark.parametrize("overrides, error", [
    ({"subject": ""}, "入力してください。"),
    ({"body": "あ" * 4001}, "4000"),
    ({"audience": "saved_search", "saved_search": "0"}, "保存した検索を選んでください。"),
    ({"audience": "everyone"}, "field-errors"),
    ({"subject": "件名\x07"}, "使用できない制御文字"),
])
def test_bad_compose_input_is_refused_and_nothing_is_sent(app, make_staff, people, overrides, error):
    editor = _staff_client(app, make_staff)
    response = _send(editor, **overrides)
    assert response.status_code == 400 and error in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_nobody_to_deliver_to_is_a_clear_message(app, make_staff, make_registrant):
    make_registrant(status="withdrawn")
    editor = _staff_client(app, make_staff)
    confirm = editor.post(NEW, data={"csrf_token": csrf_token(editor, NEW), **_compose()}).get_data(as_text=True)
    assert "宛先に有効な登録者がいないため、送信できません" in confirm and "この内容で送信する" not in confirm
    response = _send(editor)
    assert response.status_code == 400 and "届けられる登録者がいません" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_the_back_button_keeps_what_was_typed(app, make_staff, people):
    editor = _staff_client(app, make_staff)
    page = editor.post(NEW, data={"csrf_token": csrf_token(editor, NEW), "back": "1", **_compose()})
    text = page.get_data(as_text=True)
    assert "メッセージの作成" in text and 'value="交流会のお知らせ"' in text and "来月の交流会" in text


def test_template_syntax_in_a_subject_reaches_the_mail_as_typed(app, make_staff, people):
    editor = _staff_client(app, make_staff)
    subject = "{{ 7*7 }} {% raw %} {# x #} の件"
    assert _send(editor, subject=subject).status_code == 302
    with app.app_context():
        mail = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).first()
    assert mail.subject == f"【つなぐ】新しいメッセージ: {subject}" and f"件名: {subject}" in mail.body_text


def test_registrant_inbox_unread_marker_read_on_first_open_and_only_their_own(app, make_staff, people):
    editor = _staff_client(app, make_staff)
    _send(editor, subject="一通目", send_email="")
    _send(editor, subject="二通目", send_email="")
    with app.app_context():
        first, second = db.session.scalars(sa.select(Message.id).order_by(Message.id)).all()
    hanako = _portal(app, people["hanako"])
    inbox = hanako.get("/inbox").get_data(as_text=True)
    assert inbox.index("二通目") < inbox.index("一通目") and inbox.count('class="unread-badge"') == 2
    assert "受信箱 (2)" in inbox and "未読のメッセージが 2 件あります。" in inbox

    page = hanako.get(f"/inbox/{first}").get_data(as_text=True)
    assert "<h1>一通目</h1>" in page and '<a href="https://example.com/event" rel="noopener">' in page
    assert "受信箱 (1)" in page  # the menu counts after this opening
    read_at = _recipients(app, first)[people["hanako"].id].read_at
    assert read_at is not None
    hanako.get(f"/inbox/{first}")
    assert _recipients(app, first)[people["hanako"].id].read_at == read_at  # the first opening counts
    assert _recipients(app, first)[people["taro"].id].read_at is None  # read state is per registrant
    assert hanako.get("/inbox").get_data(as_text=True).count('class="unread-badge"') == 1

    assert _portal(app, people["expired"]).get(f"/inbox/{second}").status_code == 404  # only active ones got it
    stranger = make_staff("viewer")
    assert hanako.get(f"/inbox/{second + 999}").status_code == 404
    with app.app_context():
        direct = services.send_direct(db.session, db.session.get(StaffUser, stranger.id),
                                      db.session.get(Registrant, people["taro"].id), "太郎さんへ", "個別の回答です。",
                                      email=False)
        db.session.commit()
        direct_id = direct.id
    assert hanako.get(f"/inbox/{direct_id}").status_code == 404  # someone else's message
    assert "太郎さんへ" not in hanako.get("/inbox").get_data(as_text=True)


def test_inbox_needs_a_registrant_login_and_the_menu_count_is_zero_for_others(app, make_staff):
    anonymous = app.test_client()
    for path in ("/inbox", "/inbox/1"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "受信箱" not in anonymous.get("/").get_data(as_text=True)
    staff = _staff_client(app, make_staff)
    assert staff.get("/inbox").status_code == 302


def test_send_direct_mails_only_an_eligible_registrant_and_is_listed_on_request(app, make_staff, people, suppressed):
    staff = make_staff("editor")
    with app.app_context():
        actor = db.session.get(StaffUser, staff.id)
        mailed = services.send_direct(db.session, actor, db.session.get(Registrant, people["hanako"].id),
                                      "お問い合わせへの回答", "ご質問ありがとうございました。", email=True)
        not_mailed = services.send_direct(db.session, actor, db.session.get(Registrant, people["suppressed"].id),
                                          "お問い合わせへの回答", "ご質問ありがとうございました。", email=True)
        db.session.commit()
        mailed_id, not_mailed_id = mailed.id, not_mailed.id
        outbox = db.session.scalars(sa.select(OutboxMessage)).all()
        assert [(m.registrant_id, m.category) for m in outbox] == [(people["hanako"].id, "inbox_direct")]
        assert "山田 花子 様" in outbox[0].body_text and "ご質問ありがとう" not in outbox[0].body_text
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutputRecord)) == 1
        assert db.session.get(Message, mailed_id).audience == "direct"
    assert _recipients(app, mailed_id)[people["hanako"].id].emailed is True
    assert _recipients(app, not_mailed_id)[people["suppressed"].id].emailed is False
    viewer = _staff_client(app, make_staff, "viewer")
    assert "お問い合わせへの回答" not in viewer.get("/admin/messages").get_data(as_text=True)
    assert "お問い合わせへの回答" in viewer.get("/admin/messages?direct=y").get_data(as_text=True)
    assert "お問い合わせへの回答" in _portal(app, people["hanako"]).get("/inbox").get_data(as_text=True)


def test_message_stats_count_bulk_messages_sent_in_the_period(app, make_staff, people, suppressed):
    editor = _staff_client(app, make_staff)
    _send(editor, subject="今月")
    _send(editor, subject="先月", send_email="")
    with app.app_context():
        db.session.execute(sa.update(Message).where(Message.subject == "先月")
                           .values(sent_at=utcnow() - timedelta(days=40)))
        db.session.commit()
        this_month = db.session.scalar(sa.select(Message.id).where(Message.subject == "今月"))
    _portal(app, people["taro"]).get(f"/inbox/{this_month}")
    with app.app_context():
        now = utcnow()
        stats = services.message_stats(db.session, now - timedelta(days=30), now + timedelta(minutes=1))
        assert stats == {"messages": 1, "recipients": 4, "read": 1, "emailed": 2}
        older = services.message_stats(db.session, now - timedelta(days=60), now - timedelta(days=30))
        assert older == {"messages": 1, "recipients": 4, "read": 0, "emailed": 0}
        assert services.message_stats(db.session, now + timedelta(days=1), now + timedelta(days=2)) == {
            "messages": 0, "recipients": 0, "read": 0, "emailed": 0}


def test_a_viewer_cannot_send(app, make_staff, people):
    viewer = _staff_client(app, make_staff, "viewer")
    response = viewer.post("/admin/messages/send", data={"csrf_token": csrf_token(viewer, "/admin/messages"),
                                                         **_compose()})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_demo_articles_and_messages_load_once(app):
    import random

    from app.articles import demo as article_demo
    from app.articles.models import Article, UploadedImage
    from app.articles.services import state_of
    from app.articles.storage import image_path
    from app.demo.services import load_demo
    from app.inbox import demo as message_demo

    with app.app_context():
        load_demo(db.session, registrant_count=30)
        for _ in range(2):  # the second round finds the data and adds nothing
            article_demo.load(db.session, random.Random(6))
            message_demo.load(db.session, random.Random(6))
            db.session.commit()
        states = sorted(state_of(a) for a in db.session.scalars(sa.select(Article)))
        assert states == ["draft", "published", "published", "scheduled"]
        assert any(a.category and a.category.label == "復職・採用情報" for a in db.session.scalars(sa.select(Article)))
        image = db.session.scalars(sa.select(UploadedImage)).one()
        assert image_path(app.instance_path, image.sha256).is_file()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)
                                 .where(Article.body_html.contains(f'src="/articles/images/{image.id}"'))) == 1
        messages = db.session.scalars(sa.select(Message).where(Message.audience != "direct")
                                      .order_by(Message.sent_at)).all()
        assert len(messages) == 3 and all(m.audience == "all_active" for m in messages)
        for message in messages:
            state = services.read_state(db.session, message.id)
            assert state.recipients > 0 and 0.2 < state.rate < 0.8
        assert services.read_state(db.session, messages[0].id).emailed > 0
