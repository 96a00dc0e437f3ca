"""Staff admin in a real browser: role menus, breadcrumbs, screenshots and axe on every admin page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, WIDTHS, LiveServer
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, login_as, staff_login

pytestmark = pytest.mark.browser

ADMIN_ONLY_LINKS = ("管理者ユーザー", "コードマスタ", "監査履歴")
EVERY_STAFF_LINKS = ("ダッシュボード", "登録者検索", "登録者一覧", "対応履歴", "出力履歴", "ロック中のアカウント", "アカウント")


def admin_pages(server: LiveServer) -> list[tuple[str, str, str]]:
    """(screenshot name, path, expected <h1>) for every admin page behind the login."""
    return [
        ("admin-dashboard", "/admin/", "ダッシュボード"),
        ("admin-registrants", "/admin/registrants", "登録者一覧"),
        ("admin-registrant-detail", f"/admin/registrants/{server.registrant_id}", server.registrant_name),
        ("admin-locks", "/admin/security/locks", "ロック中のアカウント"),
        ("admin-staff", "/admin/staff", "管理者ユーザー"),
        ("admin-staff-new", "/admin/staff/new", "管理者ユーザーの新規登録"),
        ("admin-audit", "/admin/audit", "監査履歴"),
        ("admin-password", "/admin/account/password", "パスワード変更"),
    ]


@pytest.mark.parametrize(("email", "is_admin"), [
    ("admin@example.com", True), ("editor@example.com", False), ("viewer@example.com", False)])
def test_staff_role_menu_after_login(new_page: Any, live_server: LiveServer, email: str,
                                     is_admin: bool) -> None:
    """Each demo staff role logs in through the real form and sees its role's menu (S-A15).

    Administrators get the staff-user and audit-history links; editors and viewers do not.
    """
    page = new_page(DESKTOP)
    staff_login(page, live_server.url, email, live_server.login_for(email).password)
    nav = page.locator("#admin-nav")
    for label in EVERY_STAFF_LINKS:  # links inside the closed menu groups count too
        assert nav.get_by_role("link", name=label, exact=True, include_hidden=True).count() == 1, label
    for label in ADMIN_ONLY_LINKS:
        expected = 1 if is_admin else 0
        assert nav.get_by_role("link", name=label, exact=True, include_hidden=True).count() == expected, label
    group = nav.locator("summary", has_text="登録者")
    group.click()
    assert nav.get_by_role("link", name="登録者検索", exact=True).is_visible()
    page.keyboard.press("Escape")
    assert not nav.get_by_role("link", name="登録者検索", exact=True).is_visible()
    if not is_admin:
        response = page.goto(live_server.url + "/admin/staff")
        assert response is not None and response.status == 403
        assert page.locator("h1").inner_text() == "この操作は許可されていません"


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_pages_breadcrumbs_screenshots_and_axe(new_page: Any, live_server: LiveServer,
                                                     width: int) -> None:
    """Every admin page at 375 px and 1280 px: breadcrumbs (S-A1), no sideways scrolling, and no
    serious or critical axe-core violation (PRODUCT §6: WCAG 2.1 AA, usable on a phone and a desktop).
    """
    page = new_page(width)
    page.goto(live_server.url + "/admin/login")
    assert page.locator("h1").inner_text() == "管理者ログイン"
    assert page.locator(BREADCRUMBS).count() == 0
    check_page(page, "admin-login", width)

    login_as(page, live_server, "admin@example.com")
    for name, path, heading in admin_pages(live_server):
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main h1").inner_text().startswith(heading), path
        crumbs = page.locator(BREADCRUMBS)
        assert crumbs.count() == 1, f"{path} has no breadcrumbs"
        assert crumbs.locator("li").first.inner_text() == "管理画面トップ", path
        assert crumbs.locator("[aria-current=page]").count() == 1, path
        check_page(page, name, width)
        if width == PHONE:
            assert horizontal_overflow(page) == [], f"{path} scrolls sideways at {width}px"
