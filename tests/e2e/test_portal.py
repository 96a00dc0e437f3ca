"""The registrant portal in a real browser at phone and desktop widths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PHONE, WIDTHS, LiveServer
from tests.e2e.support import check_page, horizontal_overflow, registrant_login

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", WIDTHS)
def test_registrant_portal_login_and_own_record(new_page: Any, live_server: LiveServer, width: int) -> None:
    """Top page, login, own record and password page at 375 px and 1280 px; the registrant sees their
    own name after logging in; no serious or critical axe-core violation (PRODUCT §6).
    """
    page = new_page(width)

    def visit(name: str, path: str | None = None) -> None:
        if path is not None:
            response = page.goto(live_server.url + path)
            assert response is not None and response.status == 200, path
        check_page(page, name, width)
        if width == PHONE:
            assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"

    visit("portal-index", "/")
    assert page.locator("html").get_attribute("lang") == "ja"
    visit("portal-login", "/login")
    account = live_server.login_for("registrant@example.com")
    registrant_login(page, live_server.url, account.email, account.password)
    assert page.url.endswith("/me")
    assert live_server.registrant_name in page.locator("main").inner_text()
    assert account.email in page.locator("main").inner_text()
    visit("portal-me")
    visit("portal-password", "/me/password")
