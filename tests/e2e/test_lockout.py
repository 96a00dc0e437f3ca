"""Lock-out in a real browser: repeated failures lock a staff account; an administrator unlocks it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, LOCKOUT_EMAIL, LOCKOUT_NAME, LOCKOUT_PASSWORD, PHONE, LiveServer
from tests.e2e.support import GENERIC_LOGIN_ERROR, check_page, login_as, staff_login, submit_login

pytestmark = pytest.mark.browser


def test_staff_lockout_then_administrator_unlocks(new_page: Any, live_server: LiveServer) -> None:
    """Five wrong passwords lock the account; the right one then gets the same generic error, so the
    page never reveals the lock. An administrator sees the account on the locked-accounts page and
    unlocks it with its button, after which the user can log in (PRODUCT §5, S-A15: unlock is for
    administrators).
    """
    target = new_page(PHONE)
    for attempt in range(5):
        submit_login(target, live_server.url, "/admin/login", LOCKOUT_EMAIL, f"WrongPassword{attempt}x")
        assert GENERIC_LOGIN_ERROR in target.locator("main .flash-error").inner_text()
    first_error = target.locator("main .flash-error").inner_text()
    submit_login(target, live_server.url, "/admin/login", LOCKOUT_EMAIL, LOCKOUT_PASSWORD)
    assert target.url.endswith("/admin/login")
    error = target.locator("main .flash-error")
    assert error.get_attribute("role") == "alert"
    assert GENERIC_LOGIN_ERROR in error.inner_text()
    assert error.inner_text() == first_error, "a locked account must look like a wrong password"
    check_page(target, "admin-login-error", PHONE)

    admin = new_page(DESKTOP)
    login_as(admin, live_server, "admin@example.com")
    admin.goto(live_server.url + "/admin/security/locks")
    heading = admin.get_by_role("heading", name="管理者ユーザー")
    staff_section = admin.locator("section.card").filter(has=heading)
    row = staff_section.locator("tbody tr").filter(has_text=LOCKOUT_NAME)
    assert row.count() == 1
    assert row.locator("td").nth(1).inner_text() == "5"
    with admin.expect_navigation():
        row.get_by_role("button", name="ロックを解除").click()
    assert admin.url.endswith("/admin/security/locks")
    assert "アカウントのロックを解除しました。" in admin.locator("main .flash-info").inner_text()
    assert staff_section.locator("tbody tr").filter(has_text=LOCKOUT_NAME).count() == 0

    staff_login(target, live_server.url, LOCKOUT_EMAIL, LOCKOUT_PASSWORD)
    assert target.locator("#admin-nav").get_by_text(LOCKOUT_NAME).count() == 1
