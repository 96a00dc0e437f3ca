"""S-A10 two-factor login for staff: enrol with a QR code or key, confirm, log in with a code; wrong codes
count toward the lock-out, a code is accepted once, a role can require it, an administrator can reset it."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.extensions import db
from app.staff.models import StaffUser
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SECRET_RE = re.compile(r'<code class="totp-secret" id="totp-secret">([A-Z2-7 ]+)</code>')


def _path(response: Any) -> str:
    return urlsplit(response.headers.get("Location", "")).path


def _next_code(secret: str) -> str:
    """A code of the next time step: still inside the accepted window, and never the one just used."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def _enrol(client: Any) -> str:
    """Enrol through the pages as a person would: read the key off the page, type the current code."""
    page = client.get("/admin/account/totp").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code is made by the appliance, not by a web service
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    response = client.post("/admin/account/totp", data={"csrf_token": csrf_token(client, "/admin/account/totp"),
                                                        "code": pyotp.TOTP(secret).now()})
    assert _path(response) == "/admin/account", response.get_data(as_text=True)
    return secret


def _wrong_code(secret: str) -> str:
    totp, now = pyotp.TOTP(secret), time.time()
    valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid)


def _as_if_a_minute_passed(app: Flask, user_id: int) -> None:
    """Forget which time step was used last, as if the login's code had long expired."""
    with app.app_context():
        db.session.get(StaffUser, user_id).totp_last_step = None
        db.session.commit()


def _password_step(client: Any, email: str) -> Any:
    return login(client, email, STRONG_PASSWORD)


def _code_step(client: Any, code: str) -> Any:
    return client.post("/admin/login/code", data={"csrf_token": csrf_token(client, "/admin/login/code"),
                                                  "code": code})


def _enrolled(app: Flask, make_staff, role: str = "editor") -> tuple[Any, str]:
    user = make_staff(role)
    client = app.test_client()
    login(client, user.email, STRONG_PASSWORD)
    secret = _enrol(client)
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    return user, secret


def _row(app: Flask, user_id: int) -> StaffUser:
    with app.app_context():
        row = db.session.get(StaffUser, user_id)
        db.session.expunge(row)
        return row


def test_enrolment_needs_a_right_code_and_then_login_asks_for_one(app, make_staff):
    user = make_staff("viewer")
    client = app.test_client()
    login(client, user.email, STRONG_PASSWORD)
    page = client.get("/admin/account").get_data(as_text=True)
    assert "二要素認証を設定する" in page
    page = client.get("/admin/account/totp").get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    wrong = client.post("/admin/account/totp", data={"csrf_token": csrf_token(client, "/admin/account/totp"),
                                                     "code": _wrong_code(secret)})
    assert "確認コードが正しくありません" in wrong.get_data(as_text=True)
    assert _row(app, user.id).totp_enabled_at is None
    assert SECRET_RE.search(client.get("/admin/account/totp").get_data(as_text=True)).group(1).replace(" ", "") \
        == secret  # a reload keeps the key the app may already have scanned
    _enrol(client)
    assert _row(app, user.id).totp_enabled_at is not None
    with app.app_context():
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.totp_enable")).all()
        assert len(events) == 1 and secret not in (events[0].detail or "")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})

    response = _password_step(client, user.email)
    assert _path(response) == "/admin/login/code"
    assert _path(client.get("/admin/")) == "/admin/login"  # nothing is logged in between the two steps
    response = _code_step(client, _next_code(secret))
    assert _path(response) == "/admin/"
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        login_event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.login")
                                         .order_by(AuditEvent.id.desc())).first()
        assert '"totp"' in login_event.detail


def test_wrong_codes_count_toward_the_lock_out_and_are_logged(app, make_staff, auth_log):
    user, secret = _enrolled(app, make_staff)
    client = app.test_client()
    wrong = _wrong_code(secret)
    _password_step(client, user.email)
    for code in ("123abc", wrong):  # not even digits, then a wrong number
        page = _code_step(client, code).get_data(as_text=True)
        assert "確認コードが正しくありません" in page
    # a right password again does not clear the count of wrong codes
    _password_step(client, user.email)
    assert _row(app, user.id).failed_login_count == 2
    for _ in range(3):
        _code_step(client, wrong)
    assert _row(app, user.id).is_locked()
    # locked: even the right password and code do not get in
    response = _password_step(client, user.email)
    assert response.status_code == 200 and "メールアドレスまたはパスワードが正しくありません" in response.get_data(
        as_text=True)
    lines = auth_log.read_text().splitlines()
    assert sum("reason=bad_totp" in line for line in lines) == 5
    assert sum(" account_locked " in line for line in lines) == 1
    assert user.email not in auth_log.read_text() and secret not in auth_log.read_text()


def test_a_code_is_accepted_only_once(app, make_staff):
    user, secret = _enrolled(app, make_staff)
    code = _next_code(secret)
    client = app.test_client()
    _password_step(client, user.email)
    assert _path(_code_step(client, code)) == "/admin/"
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    _password_step(client, user.email)
    page = _code_step(client, code).get_data(as_text=True)
    assert "確認コードが正しくありません" in page
    assert _path(client.get("/admin/")) == "/admin/login"


def test_an_expired_or_missing_pending_login_goes_back_to_the_password(app, make_staff):
    user, secret = _enrolled(app, make_staff)
    client = app.test_client()
    assert _path(client.get("/admin/login/code")) == "/admin/login"
    _password_step(client, user.email)
    with client.session_transaction() as session:
        session["second_factor"] = {**session["second_factor"], "until": int(time.time()) - 1}
    token = csrf_token(client, "/admin/login")
    response = client.post("/admin/login/code", data={"csrf_token": token, "code": _next_code(secret)})
    assert _path(response) == "/admin/login"
    assert _path(client.get("/admin/")) == "/admin/login"


@pytest.mark.parametrize("settings_overrides", [{"totp_required_roles": "editor"}])
def test_a_role_that_requires_totp_is_sent_to_enrol_before_anything_else(app, make_staff, settings_overrides):
    user = make_staff("editor")
    client = app.test_client()
    response = login(client, user.email, STRONG_PASSWORD)
    assert _path(response) == "/admin/"  # password alone logs in ...
    for path in ("/admin/", "/admin/registrants", "/admin/news", "/admin/account"):
        response = client.get(path)
        assert _path(response) == "/admin/account/totp", path  # ... but every page sends them to enrol
    token = csrf_token(client, "/admin/account/totp")
    assert _path(client.post("/admin/news/videos/new", data={"csrf_token": token, "title": "t",
                                                             "url": "https://youtu.be/AbC_12-xYz9"})) \
        == "/admin/account/totp"
    secret = _enrol(client)
    assert client.get("/admin/").status_code == 200
    # the role requires it, so it cannot be switched off
    client.post("/admin/account/totp/disable", data={"csrf_token": csrf_token(client, "/admin/account"),
                                                     "code": _next_code(secret)})
    assert _row(app, user.id).totp_enabled_at is not None
    # a viewer (role not listed) is not forced
    viewer = make_staff("viewer")
    other = app.test_client()
    login(other, viewer.email, STRONG_PASSWORD)
    assert other.get("/admin/").status_code == 200


def test_user_disables_own_totp_with_a_current_code(app, make_staff):
    user, secret = _enrolled(app, make_staff)
    client = app.test_client()
    _password_step(client, user.email)
    _code_step(client, _next_code(secret))
    _as_if_a_minute_passed(app, user.id)
    client.post("/admin/account/totp/disable", data={"csrf_token": csrf_token(client, "/admin/account"),
                                                     "code": _wrong_code(secret)})
    assert _row(app, user.id).totp_enabled_at is not None
    client.post("/admin/account/totp/disable", data={"csrf_token": csrf_token(client, "/admin/account"),
                                                     "code": pyotp.TOTP(secret).now()})
    row = _row(app, user.id)
    assert row.totp_enabled_at is None and row.totp_secret is None
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert _path(_password_step(client, user.email)) == "/admin/"


@pytest.mark.parametrize("settings_overrides", [{"totp_required_roles": "editor"}])
def test_admin_resets_totp_and_a_required_role_must_enrol_again(app, make_staff, settings_overrides):
    editor = make_staff("editor")
    client = app.test_client()
    login(client, editor.email, STRONG_PASSWORD)
    secret = _enrol(client)
    admin = app.test_client()
    login(admin, make_staff("administrator").email, STRONG_PASSWORD)
    response = admin.post(f"/admin/staff/{editor.id}/totp-reset",
                          data={"csrf_token": csrf_token(admin, f"/admin/staff/{editor.id}/edit")})
    assert _path(response) == "/admin/staff"
    row = _row(app, editor.id)
    assert row.totp_secret is None and row.totp_enabled_at is None
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "staff.totp_reset")).one()
        assert secret not in (event.detail or "")
    fresh = app.test_client()
    assert _path(login(fresh, editor.email, STRONG_PASSWORD)) == "/admin/"  # no code step any more
    assert _path(fresh.get("/admin/registrants")) == "/admin/account/totp"
    new_secret = _enrol(fresh)
    assert new_secret != secret


def test_operator_resets_totp_from_the_command_line(app, make_staff):
    """The way back in when the only administrator has lost their phone."""
    user, _secret = _enrolled(app, make_staff, "administrator")
    result = app.test_cli_runner().invoke(args=["staff", "reset-totp", user.email])
    assert result.exit_code == 0 and f"#{user.id}" in result.output
    assert _row(app, user.id).totp_enabled_at is None
    assert _path(_password_step(app.test_client(), user.email)) == "/admin/"
    result = app.test_cli_runner().invoke(args=["staff", "reset-totp", "nobody@example.com"])
    assert result.exit_code == 1
