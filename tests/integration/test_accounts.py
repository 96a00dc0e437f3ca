"""Registrant accounts by mail (PRODUCT §1 Accounts; issue item 4): the invitation to set a first password,
password reset, one-time links that work once and expire, and tokens that never reach a log or a URL
that lingers.

The invitation test goes end to end: the outbox worker delivers to a real SMTP listener, the link is
read from the received mail and followed with the test client.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.auth.models import AccountToken, LoginSession
from app.core.timeutil import utcnow
from app.extensions import db
from app.mail.models import OutboxMessage
from app.mail.services import deliver_due
from app.registrants.accounts import send_invitation
from app.registrants.models import Registrant
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

NEW_PASSWORD = "Hakodate2027Goryokaku"
LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/(?:account/setup|account/reset|register/verify)/[A-Za-z0-9_\-]+)")


def deliver(app: Any, port: int) -> None:
    settings = dataclasses.replace(app.extensions["tsunagu.settings"], smtp_port=port)
    with app.app_context():
        deliver_due(db.session, settings)


def link_in(message: Any) -> str:
    match = LINK_RE.search(message.get_content())
    assert match, f"no one-time link in the mail:\n{message.get_content()}"
    return match.group(1)


def invite(app: Any, registrant_id: int) -> None:
    with app.app_context():
        send_invitation(db.session, app.extensions["tsunagu.settings"], db.session.get(Registrant, registrant_id))
        db.session.commit()


def outbox_link(app: Any, category: str) -> str:
    with app.app_context():
        body = db.session.scalars(sa.select(OutboxMessage.body_text).where(OutboxMessage.category == category)
                                  .order_by(OutboxMessage.id.desc())).first()
    assert body, f"no {category} mail queued"
    match = LINK_RE.search(body)
    assert match
    return match.group(1)


def post_password(client: Any, path: str, password: str, confirm: str | None = None) -> Any:
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token, "new_password": password,
                                   "confirm": password if confirm is None else confirm})


def registrant_row(app: Any, registrant_id: int) -> Registrant:
    with app.app_context():
        row = db.session.get(Registrant, registrant_id)
        db.session.expunge(row)
        return row


def audit_actions(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_invitation_mail_link_sets_a_password_and_shows_only_own_record(app, client, make_registrant,
                                                                        smtp_server):  # noqa: F811
    """Accounts: invitation → real SMTP → link → weak password refused with reasons → strong one set →
    logged in → /me shows this registrant's data and not another's (S2)."""
    inbox, port = smtp_server
    hanako = make_registrant(email="hanako@example.com", password=None)
    make_registrant(email="ichiro@example.com", family_name="鈴木", given_name="一郎",
                    family_name_kana="スズキ", given_name_kana="イチロウ")
    invite(app, hanako.id)
    deliver(app, port)
    [mail] = inbox.to("hanako@example.com")
    assert mail["Subject"] == "【つなぐ】パスワード設定のご案内"
    path = link_in(mail)

    # the link moves the token into the session and leaves the URL at once
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/setup"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/account/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert "山田 花子" in html and "hanako@example.com" in html
    assert path.rsplit("/", 1)[1] not in html  # not in the language switch, a form action or anywhere

    weak = post_password(client, "/account/setup", "password")
    text = weak.get_data(as_text=True)
    assert weak.status_code == 200
    assert "12文字以上" in text and "英大文字・英小文字・数字" in text and "推測されやすい" in text
    mismatch = post_password(client, "/account/setup", NEW_PASSWORD, "Something-else-2027")
    assert "確認用のパスワードが一致しません" in mismatch.get_data(as_text=True)
    assert registrant_row(app, hanako.id).password_hash is None

    done = post_password(client, "/account/setup", NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/me"
    me = client.get("/me").get_data(as_text=True)
    assert "山田 花子" in me and "hanako@example.com" in me
    assert "鈴木" not in me and "ichiro@example.com" not in me
    row = registrant_row(app, hanako.id)
    assert row.password_hash and row.email_verified_at is not None and row.last_login_at is not None
    actions = audit_actions(app)
    assert "auth.invitation_accepted" in actions and "auth.password_change" in actions

    # and the password works at the login form
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert login(client, "hanako@example.com", NEW_PASSWORD, realm="portal").headers["Location"] == "/me"


def test_a_used_invitation_link_shows_a_clear_page_and_changes_nothing(app, client, make_registrant):
    hanako = make_registrant(password=None)
    invite(app, hanako.id)
    path = outbox_link(app, "invitation")
    client.get(path)
    assert post_password(client, "/account/setup", NEW_PASSWORD).status_code == 302
    first_hash = registrant_row(app, hanako.id).password_hash

    again = app.test_client()
    assert again.get(path).status_code == 302
    page = again.get("/account/setup")
    html = page.get_data(as_text=True)
    assert page.status_code == 410
    assert "このリンクはすでに使われています" in html and "登録内容やパスワードは変更されていません" in html
    assert 'href="/account/reset"' in html  # how to get a new one
    assert again.post("/account/setup", data={"new_password": "Other-Password-2028", "confirm": "x"}
                      ).status_code in {400, 410}
    assert registrant_row(app, hanako.id).password_hash == first_hash


def test_an_expired_invitation_link_shows_a_clear_page_and_changes_nothing(app, client, make_registrant):
    hanako = make_registrant(password=None)
    invite(app, hanako.id)
    path = outbox_link(app, "invitation")
    with app.app_context():
        db.session.execute(sa.update(AccountToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    client.get(path)
    page = client.get("/account/setup")
    assert page.status_code == 410
    assert "有効期限が切れています" in page.get_data(as_text=True)
    assert registrant_row(app, hanako.id).password_hash is None
    assert "auth.invitation_accepted" not in audit_actions(app)


@pytest.mark.parametrize("path", ["/account/setup", "/account/new-password", "/register/verify"])
def test_a_page_without_a_link_or_with_a_forged_token_is_a_clear_400(client, path):
    page = client.get(path)
    assert page.status_code == 400
    assert "このリンクは使えません" in page.get_data(as_text=True)
    forged = {"/account/setup": "/account/setup/", "/account/new-password": "/account/reset/",
              "/register/verify": "/register/verify/"}[path] + "A" * 43
    client.get(forged)
    assert client.get(path).status_code == 400


def test_a_withdrawn_registrants_invitation_no_longer_works(app, client, make_registrant):
    hanako = make_registrant(password=None)
    invite(app, hanako.id)
    path = outbox_link(app, "invitation")
    with app.app_context():
        db.session.execute(sa.update(Registrant).values(status="withdrawn"))
        db.session.commit()
    client.get(path)
    assert client.get("/account/setup").status_code == 400
    assert registrant_row(app, hanako.id).password_hash is None


def test_reset_request_gives_the_same_answer_for_unknown_addresses_and_sends_nothing(
        app, client, make_registrant, smtp_server):  # noqa: F811
    """No enumeration: a known and an unknown address get the same redirect and page; only the known one gets mail."""
    inbox, port = smtp_server
    make_registrant(email="hanako@example.com")
    answers = []
    for email in ("nobody@example.com", "hanako@example.com"):
        response = client.post("/account/reset", data={"csrf_token": csrf_token(client, "/account/reset"),
                                                       "email": email})
        answers.append((response.status_code, response.headers["Location"]))
        answers.append(client.get(response.headers["Location"]).get_data(as_text=True))
    assert answers[0] == answers[2] == (302, "/account/reset-sent")
    assert answers[1] == answers[3]
    deliver(app, port)
    assert inbox.to("nobody@example.com") == []
    [mail] = inbox.to("hanako@example.com")
    assert mail["Subject"] == "【つなぐ】パスワード再設定のご案内"
    assert count_rows(app, OutboxMessage) == 1


def test_reset_requests_are_throttled_per_account(app, client, make_registrant):
    make_registrant(email="hanako@example.com")
    for _ in range(3):
        client.post("/account/reset", data={"csrf_token": csrf_token(client, "/account/reset"),
                                            "email": "HANAKO@example.com"})
    assert count_rows(app, OutboxMessage) == 1


def test_reset_sets_a_new_password_and_ends_every_other_session(app, client, make_registrant,
                                                                 smtp_server):  # noqa: F811
    inbox, port = smtp_server
    hanako = make_registrant(email="hanako@example.com")
    phone = app.test_client()
    assert login(phone, "hanako@example.com", STRONG_PASSWORD, realm="portal").status_code == 302
    assert phone.get("/me").status_code == 200
    with app.app_context():
        # a lock-out from earlier failures is lifted by proving the mailbox
        db.session.execute(sa.update(Registrant).values(locked_until=utcnow() + timedelta(minutes=30),
                                                        failed_login_count=5))
        db.session.commit()

    client.post("/account/reset", data={"csrf_token": csrf_token(client, "/account/reset"),
                                        "email": "hanako@example.com"})
    deliver(app, port)
    [mail] = inbox.to("hanako@example.com")
    path = link_in(mail)
    assert path.startswith("/account/reset/")
    response = client.get(path)
    assert response.headers["Location"] == "/account/new-password"
    assert client.get("/account/new-password").status_code == 200
    weak = post_password(client, "/account/new-password", "hanako@example.com1A")
    assert "メールアドレス" in weak.get_data(as_text=True)
    done = post_password(client, "/account/new-password", NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/login"

    assert phone.get("/me").status_code == 302  # the other device is logged out
    assert count_rows(app, LoginSession) == 0
    row = registrant_row(app, hanako.id)
    assert not row.is_locked() and row.failed_login_count == 0
    assert login(client, "hanako@example.com", STRONG_PASSWORD, realm="portal").status_code == 200
    assert login(client, "hanako@example.com", NEW_PASSWORD, realm="portal").headers["Location"] == "/me"
    assert {"auth.password_reset_requested", "auth.password_reset"} <= set(audit_actions(app))
    # the link is spent
    client.get(path)
    assert client.get("/account/new-password").status_code == 410


def test_no_reset_mail_for_withdrawn_or_pending_registrants(app, client, make_registrant):
    make_registrant(email="gone@example.com", status="withdrawn")
    make_registrant(email="waiting@example.com", status="pending")
    for email in ("gone@example.com", "waiting@example.com"):
        client.post("/account/reset", data={"csrf_token": csrf_token(client, "/account/reset"), "email": email})
    assert count_rows(app, OutboxMessage) == 0


def test_one_time_tokens_are_redacted_from_access_and_error_logs(app, tmp_path):
    """gunicorn's real access logger and werkzeug's request log write the path with the token replaced."""
    from datetime import timedelta as delta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    token = "s3cretTOKENvalue_-abcdefghijklmnopqrstuvwxyz012"
    log_file = tmp_path / "access.log"
    config = Config()
    config.set("accesslog", str(log_file))
    gunicorn_log = Logger(config)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/account/setup/{token}", "PATH_INFO": f"/account/setup/{token}",
               "SERVER_PROTOCOL": "HTTP/1.1", "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_REFERER": f"https://mail.example.com/?u=/register/verify/{token}"}
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[])
    gunicorn_log.access(response, SimpleNamespace(headers=[]), environ, delta(milliseconds=3))
    for name in ("gunicorn.access", "gunicorn.error"):
        for handler in list(logging.getLogger(name).handlers):
            handler.close()
            logging.getLogger(name).removeHandler(handler)
    written = log_file.read_text()
    assert "/account/setup/[redacted]" in written and token not in written

    captured: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record.getMessage())

    werkzeug_log = logging.getLogger("werkzeug")
    keeper = Keep()
    werkzeug_log.addHandler(keeper)
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.INFO)
    try:
        werkzeug_log.info('"%s" %s %s', f"GET /account/reset/{token} HTTP/1.1", "302", "-")
    finally:
        werkzeug_log.removeHandler(keeper)
        werkzeug_log.setLevel(level)
    assert captured == ['"GET /account/reset/[redacted] HTTP/1.1" 302 -']


@pytest.mark.parametrize("settings_overrides", [{"login_rate_limit": "3 per minute", "self_registration": "open"}])
def test_public_forms_are_rate_limited_per_client(client, settings_overrides):
    """Each public form answers 429 (the Japanese page) once a client sends more than login_rate_limit."""
    token = csrf_token(client, "/account/reset")  # one token per session serves every form
    data = {"csrf_token": token, "email": "nobody@example.com"}
    for path in ("/account/reset", "/register", "/account/setup", "/account/new-password", "/register/verify"):
        statuses = [client.post(path, data=data).status_code for _ in range(4)]
        assert 429 not in statuses[:3] and statuses[3] == 429, (path, statuses)
        assert "アクセスが集中しています" in client.post(path, data=data).get_data(as_text=True)


@pytest.mark.parametrize("settings_overrides", [{"self_registration": "open"}])
def test_public_forms_refuse_a_post_without_a_csrf_token(app, client, settings_overrides):
    for path in ("/account/reset", "/register", "/account/setup", "/account/new-password", "/register/verify"):
        response = client.post(path, data={"email": "hanako@example.com", "new_password": NEW_PASSWORD,
                                           "confirm": NEW_PASSWORD})
        assert response.status_code == 400, path
    assert count_rows(app, OutboxMessage) == 0 and count_rows(app, Registrant) == 0
