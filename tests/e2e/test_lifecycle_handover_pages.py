"""S5 / N2 pages in a real browser: the lifecycle and hand-over admin pages and the renewal page,
at phone and desktop widths, with screenshots, no sideways scrolling and no serious axe-core violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PHONE, WIDTHS, LiveServer
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, login_as, registrant_login

pytestmark = pytest.mark.browser


def _visit(page: Any, server: LiveServer, name: str, path: str, heading: str, width: int) -> None:
    response = page.goto(server.url + path)
    assert response is not None and response.status == 200, path
    assert page.locator("main h1").inner_text().startswith(heading), path
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{path} scrolls sideways at {width}px"


@pytest.mark.parametrize("width", WIDTHS)
def test_s5_n2_admin_pages(new_page: Any, live_server: LiveServer, width: int) -> None:
    page = new_page(width)
    login_as(page, live_server, "admin@example.com")
    _visit(page, live_server, "admin-lifecycle", "/admin/lifecycle/", "年度更新", width)
    assert page.locator(BREADCRUMBS).count() == 1
    assert page.locator("svg.bar-chart rect").count() > 0
    _visit(page, live_server, "admin-handover", "/admin/handover/", "引き継ぎデータ", width)
    assert page.locator(BREADCRUMBS).count() == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_s5_renewal_page(new_page: Any, live_server: LiveServer, width: int) -> None:
    page = new_page(width)
    account = live_server.login_for("registrant@example.com")
    registrant_login(page, live_server.url, account.email, account.password)
    _visit(page, live_server, "portal-renew", "/me/renew", "登録の更新", width)
    assert page.locator(".renewal-box").count() == 1
