"""Login, lock-out, sessions and the auth log (PRODUCT §5; issue: foundation item 4)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.auth.models import LoginSession
from app.core.timeutil import utcnow
from app.extensions import db
from app.staff.models import StaffUser
from tests.conftest import STRONG_PASSWORD, count_rows, csrf_token, login

GENERIC_FAILURE = "メールアドレスまたはパスワードが正しくありません。"


def test_staff_login_reaches_dashboard_and_logout_ends_session(app, client, make_staff):
    user = make_staff("editor")
    response = login(client, user.email, STRONG_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "ダッシュボード" in page.get_data(as_text=True)
    assert count_rows(app, LoginSession) == 1
    token = csrf_token(client, "/admin/")
    client.post("/admin/logout", data={"csrf_token": token})
    assert count_rows(app, LoginSession) == 0
    assert client.get("/admin/").status_code == 302


def test_replayed_cookie_is_useless_after_logout(app, client, make_staff):
    user = make_staff("viewer")
    login(client, user.email, STRONG_PASSWORD)
    stolen = client.get_cookie("tsunagu_session").value
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    thief = app.test_client()
    thief.set_cookie("tsunagu_session", stolen)
    assert thief.get("/admin/").status_code == 302


def test_session_cookie_is_rotated_at_login(client, make_staff):
    user = make_staff("viewer")
    client.get("/admin/login")
    before = client.get_cookie("tsunagu_session").value
    login(client, user.email, STRONG_PASSWORD)
    after = client.get_cookie("tsunagu_session").value
    assert before != after


def test_unknown_account_and_wrong_password_get_the_same_answer(client, make_staff):
    user = make_staff("viewer")
    wrong = login(client, user.email, "Wrong-password-123")
    unknown = login(client, "nobody@example.com", "Wrong-password-123")
    assert wrong.status_code == unknown.status_code == 200
    assert GENERIC_FAILURE in wrong.get_data(as_text=True)
    assert GENERIC_FAILURE in unknown.get_data(as_text=True)


def test_five_failures_lock_the_account_and_log_five_lines(app, client, make_staff, auth_log):
    user = make_staff("editor")
    for _ in range(5):
        login(client, user.email, "Not-the-password-1")
    # the right password no longer works, and the answer is the same generic one
    response = login(client, user.email, STRONG_PASSWORD)
    assert GENERIC_FAILURE in response.get_data(as_text=True)
    with app.app_context():
        locked = db.session.get(StaffUser, user.id)
        assert locked.is_locked()
    lines = auth_log.read_text().splitlines()
    failures = [line for line in lines if " login_failure " in line]
    assert len(failures) == 6  # five bad passwords, then one attempt while locked
    assert sum(" account_locked " in line for line in lines) == 1
    assert user.email not in auth_log.read_text()
    assert all(re.search(r" ip=127\.0\.0\.1 ", line) for line in failures)


def test_lock_expires_after_the_lockout_period(app, client, make_staff):
    user = make_staff("viewer")
    for _ in range(5):
        login(client, user.email, "Not-the-password-1")
    with app.app_context():
        db.session.execute(sa.update(StaffUser).where(StaffUser.id == user.id)
                           .values(locked_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert login(client, user.email, STRONG_PASSWORD).status_code == 302


def test_failures_outside_the_window_do_not_add_up(app, client, make_staff):
    user = make_staff("viewer")
    for _ in range(4):
        login(client, user.email, "Not-the-password-1")
    with app.app_context():
        db.session.execute(sa.update(StaffUser).where(StaffUser.id == user.id)
                           .values(failure_window_started_at=utcnow() - timedelta(minutes=16)))
        db.session.commit()
    login(client, user.email, "Not-the-password-1")
    with app.app_context():
        assert not db.session.get(StaffUser, user.id).is_locked()


def test_auth_log_lines_match_the_fail2ban_filter(client, make_staff, auth_log):
    """The shipped fail2ban filter finds every failed login (PRODUCT §4, fail2ban jail for the app)."""
    user = make_staff("viewer")
    for _ in range(5):
        login(client, user.email, "Not-the-password-1")
    filter_file = Path(__file__).resolve().parents[2] / "roles/fail2ban/files/tsunagu-auth.conf"
    fail2ban_regex = shutil.which("fail2ban-regex")
    if fail2ban_regex is None:
        pytest.fail("fail2ban-regex is not installed (apt-get install fail2ban)")
    result = subprocess.run([fail2ban_regex, str(auth_log), str(filter_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    matched = re.search(r"Failregex: (\d+) total", result.stdout)
    assert matched and int(matched.group(1)) == 5, result.stdout


def test_staff_session_does_not_open_registrant_pages(client, make_staff):
    user = make_staff("administrator")
    login(client, user.email, STRONG_PASSWORD)
    assert client.get("/me").status_code == 302


def test_registrant_login_shows_only_own_data(client, make_registrant):
    me = make_registrant(email="hanako@example.com", family_name="鈴木")
    make_registrant(email="other@example.com", family_name="高橋")
    response = login(client, me.email, STRONG_PASSWORD, realm="portal")
    assert response.status_code == 302 and response.headers["Location"].endswith("/me")
    page = client.get("/me").get_data(as_text=True)
    assert "鈴木" in page and "高橋" not in page
    assert client.get("/admin/").status_code == 302  # a registrant is not staff


def test_password_change_logs_out_every_other_session(app, make_staff):
    user = make_staff("editor")
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user.email, STRONG_PASSWORD)
    login(phone, user.email, STRONG_PASSWORD)
    token = csrf_token(laptop, "/admin/account/password")
    response = laptop.post("/admin/account/password", data={
        "csrf_token": token, "current_password": STRONG_PASSWORD,
        "new_password": "Hakodate2027Goryokaku", "confirm": "Hakodate2027Goryokaku"})
    assert response.status_code == 302
    assert phone.get("/admin/").status_code == 302
    assert login(phone, user.email, "Hakodate2027Goryokaku").status_code == 302


def test_weak_new_password_is_refused_with_reasons(client, make_staff):
    user = make_staff("editor")
    login(client, user.email, STRONG_PASSWORD)
    token = csrf_token(client, "/admin/account/password")
    response = client.post("/admin/account/password", data={
        "csrf_token": token, "current_password": STRONG_PASSWORD,
        "new_password": "Password2026!", "confirm": "Password2026!"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "推測されやすいパスワード" in text


def test_idle_session_expires(app, client, make_staff):
    user = make_staff("viewer")
    login(client, user.email, STRONG_PASSWORD)
    with app.app_context():
        db.session.execute(sa.update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        db.session.commit()
    assert client.get("/admin/").status_code == 302
    assert count_rows(app, LoginSession) == 0
