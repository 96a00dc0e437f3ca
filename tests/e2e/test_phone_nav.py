"""The admin menu on a phone: collapsed behind the メニュー button until it is pressed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.support import check_page, login_as

pytestmark = pytest.mark.browser


def test_admin_phone_menu_toggle(new_page: Any, live_server: LiveServer) -> None:
    """At 375 px the admin menu is hidden until メニュー is pressed; aria-expanded follows it
    (PRODUCT §6: usable on a 375 px phone). At 1280 px there is no toggle and the menu shows.
    """
    page = new_page(PHONE)
    login_as(page, live_server, "viewer@example.com")
    toggle = page.get_by_role("button", name="メニュー")
    nav = page.locator("#admin-nav")
    assert toggle.is_visible()
    assert toggle.get_attribute("aria-controls") == "admin-nav"
    assert toggle.get_attribute("aria-expanded") == "false"
    assert nav.is_hidden()

    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert nav.is_visible()
    nav.locator("summary", has_text="登録者").click()
    assert nav.get_by_role("link", name="登録者一覧", exact=True).is_visible()
    check_page(page, "admin-nav-open", PHONE)
    nav.get_by_role("link", name="登録者一覧", exact=True).click()
    page.wait_for_url("**/admin/registrants")
    assert page.get_by_role("button", name="メニュー").get_attribute("aria-expanded") == "false"

    toggle = page.get_by_role("button", name="メニュー")
    toggle.click()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.locator("#admin-nav").is_hidden()

    desktop = new_page(DESKTOP)
    login_as(desktop, live_server, "viewer@example.com")
    assert desktop.get_by_role("button", name="メニュー").is_hidden()
    assert desktop.locator("#admin-nav").is_visible()
