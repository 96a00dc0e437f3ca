"""Bounces (`flask mail bounce` reading an RFC 3464 DSN on stdin), suppressions and the unsubscribe link,
end to end from a mail that really went through an SMTP listener."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from app.mail.models import MailSuppression, OutboxMessage
from app.registrants.models import ConsentRecord, Registrant
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

PUBLIC = "https://tsunagu.example.jp"
COMPOSE = "/admin/mail/compose/"


@pytest.fixture
def settings_overrides(smtp_server):  # noqa: F811
    return {"smtp_port": smtp_server[1], "public_base_url": PUBLIC}


def send_campaign(app, client, make_staff, *registrants) -> None:
    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    token = csrf_token(client, COMPOSE)
    response = client.post(COMPOSE, data={
        "csrf_token": token, "audience": json.dumps({"registrant_ids": [r.id for r in registrants]}),
        "action": "send", "subject": "【つなぐ】研修のご案内", "body": "{{ 氏名 }} 様\n配信停止: {{ 配信停止URL }}"})
    assert response.status_code == 302
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--once"])
    assert result.exit_code == 0, result.output
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})


def dsn(address: str, message_id: str, status: str = "5.1.1", action: str = "failed",
        headers_part: str = "text/rfc822-headers") -> bytes:
    returned = (f"Message-ID: {message_id}\nFrom: tsunagu@example.com\nTo: {address}\nSubject: =?utf-8?b?44GK55+l44KJ44Gb?=\n"
                if headers_part == "text/rfc822-headers" else
                f"Message-ID: {message_id}\nFrom: tsunagu@example.com\nTo: {address}\nSubject: x\n\nbody\n")
    return f"""From: MAILER-DAEMON@relay.example.jp
To: tsunagu@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host relay.example.jp.

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.jp
Arrival-Date: Mon, 1 Jun 2026 10:00:00 +0900

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{address}>: Recipient address rejected: User unknown

--BOUNDARY
Content-Type: {headers_part}

{returned}
--BOUNDARY--
""".replace("\n", "\r\n").encode()


def bounce(app, raw: bytes):
    return app.test_cli_runner().invoke(args=["mail", "bounce"], input=raw)


def test_a_hard_bounce_marks_the_recipient_and_suppresses_the_address(app, client, make_staff, make_registrant,
                                                                      smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    gone = make_registrant(email="Gone@example.com")
    full = make_registrant(email="full@example.com", family_name="佐藤")
    send_campaign(app, client, make_staff, gone, full)
    [to_gone] = inbox.to("Gone@example.com")
    [to_full] = inbox.to("full@example.com")

    hard = bounce(app, dsn("gone@example.com", to_gone["Message-ID"]))
    assert hard.exit_code == 0, hard.output
    assert "5.1.1 hard" in hard.output and "suppressed" in hard.output and "gone@" not in hard.output
    soft = bounce(app, dsn("full@example.com", to_full["Message-ID"], status="4.2.2", action="delayed",
                           headers_part="message/rfc822"))
    assert soft.exit_code == 0 and "4.2.2 soft" in soft.output
    with app.app_context():
        rows = {r.to_address: r for r in db.session.scalars(sa.select(OutboxMessage))}
        assert rows["Gone@example.com"].bounced_at and rows["Gone@example.com"].bounce_status.startswith("5.1.1 hard")
        assert rows["full@example.com"].bounced_at and rows["full@example.com"].bounce_status.startswith("4.2.2 soft")
        [suppressed] = db.session.scalars(sa.select(MailSuppression)).all()
        assert (suppressed.address, suppressed.reason) == ("gone@example.com", "hard_bounce")

    editor = make_staff("editor")
    login(client, editor.email, STRONG_PASSWORD)
    page = client.get(f"{COMPOSE}?registrant_id={gone.id}&registrant_id={full.id}").get_data(as_text=True)
    assert "1 人に送信、1 人は除外" in page and "不達などで送信停止中のアドレス: 1 人" in page
    screen = client.get("/admin/mail/suppressions").get_data(as_text=True)
    assert "gone@example.com" in screen and "恒久的な不達" in screen and "4.2.2 soft" in screen

    with app.app_context():
        suppression_id = db.session.scalar(sa.select(MailSuppression.id))
    token = csrf_token(client, "/admin/mail/suppressions")
    assert client.post(f"/admin/mail/suppressions/{suppression_id}/lift",
                       data={"csrf_token": token}).status_code == 302
    assert count_rows(app, MailSuppression) == 0
    with app.app_context():
        lifted = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "mail.suppression_lift")).one()
        assert "gone" not in lifted.detail and lifted.actor_id == editor.id
    page = client.get(f"{COMPOSE}?registrant_id={gone.id}").get_data(as_text=True)
    assert "1 人に送信、0 人は除外" in page


@pytest.mark.parametrize("garbage", [b"", b"hello\r\n", b"Content-Type: text/plain\r\n\r\nnot a report\r\n",
                                     b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n",
                                     bytes(range(256)) * 10])
def test_garbage_on_stdin_exits_2_with_one_line_and_changes_nothing(app, garbage):
    from app.mail.services import enqueue

    with app.app_context():
        enqueue(db.session, to="a@example.com", subject="s", body="b", category="test")
        db.session.commit()
    result = bounce(app, garbage)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bounce: not a delivery status notification")
    assert "Traceback" not in result.output
    assert count_rows(app, MailSuppression) == 0
    with app.app_context():
        assert db.session.scalar(sa.select(OutboxMessage.bounced_at)) is None


def test_a_dsn_for_an_unknown_message_changes_nothing(app):
    result = bounce(app, dsn("stranger@example.com", "<nothing@example.com>"))
    assert result.exit_code == 0 and "ignored (no matching message)" in result.output
    assert count_rows(app, MailSuppression) == 0


def _link_path(url: str) -> str:
    assert url.startswith(PUBLIC + "/mail/unsubscribe/")
    return urlsplit(url).path


def test_the_unsubscribe_link_from_a_received_mail_works_end_to_end(app, client, make_staff, make_registrant,
                                                                     smtp_server):  # noqa: F811
    inbox, _port = smtp_server
    hanako = make_registrant(email="hanako@example.com")
    send_campaign(app, client, make_staff, hanako)
    [mail] = inbox.messages
    path = _link_path(mail["List-Unsubscribe"].strip("<>"))
    assert PUBLIC + path[: len("/mail/unsubscribe/")] in mail.get_content()  # the body has a link too

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and "配信を停止する" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Registrant, hanako.id).mail_consent  # opening the link changes nothing
    assert visitor.post(path, data={}).status_code == 400  # the form without its CSRF token
    token = csrf_token(visitor, path)
    done = visitor.post(path, data={"csrf_token": token})
    assert done.status_code == 200 and "配信を停止しました" in done.get_data(as_text=True)
    with app.app_context():
        assert not db.session.get(Registrant, hanako.id).mail_consent
        record = db.session.scalars(sa.select(ConsentRecord)).one()
        assert (record.kind, record.granted, record.source) == ("mail", False, "self")
        event = db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "registrant.consent_change")).one()
        assert event.actor_kind == "registrant" and "hanako" not in event.detail

    inbox.messages.clear()
    editor_client = app.test_client()
    send_again = make_registrant(email="other@example.com")
    send_campaign(app, editor_client, make_staff, hanako, send_again)
    assert [m["To"] for m in inbox.messages] == ["other@example.com"]  # the opt-out is respected


def test_one_click_unsubscribe_needs_no_csrf_token(app, make_registrant):
    from app.mail.unsubscribe import unsubscribe_url

    hanako = make_registrant(email="hanako@example.com")
    with app.app_context():
        path = _link_path(unsubscribe_url(app.extensions["tsunagu.settings"], hanako.id))
    response = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        assert not db.session.get(Registrant, hanako.id).mail_consent
        assert json.loads(db.session.scalar(sa.select(AuditEvent.detail).where(
            AuditEvent.action == "registrant.consent_change")))["via"] == "one_click"


def test_a_bad_or_expired_token_gets_a_friendly_page(app, make_registrant, monkeypatch):
    from app.mail import unsubscribe
    from app.mail.unsubscribe import make_token

    hanako = make_registrant(email="hanako@example.com")
    client = app.test_client()
    for path in ("/mail/unsubscribe/garbage", "/mail/unsubscribe/" + "x" * 500,
                 "/mail/unsubscribe/" + make_token("another-secret-key-that-is-long-enough-0000", hanako.id)):
        for response in (client.get(path), client.post(path, data={"List-Unsubscribe": "One-Click"})):
            text = response.get_data(as_text=True)
            assert response.status_code == 400 and "このリンクは使えません" in text and "Traceback" not in text
    with app.app_context():
        valid = make_token(app.extensions["tsunagu.settings"].secret_key, hanako.id)
    monkeypatch.setattr(unsubscribe, "MAX_AGE_SECONDS", -1)
    response = client.get(f"/mail/unsubscribe/{valid}")
    assert response.status_code == 400 and "有効期限が切れています" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Registrant, hanako.id).mail_consent
