"""No third-party requests from any page, and error pages without stack traces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, WIDTHS, LiveServer
from tests.e2e.support import check_page, login_as, registrant_login

pytestmark = pytest.mark.browser

STACK_TRACE_MARKERS = ("Traceback", "File \"", "werkzeug", "jinja2", "sqlalchemy", "Exception")


def test_no_request_leaves_for_a_third_party(new_page: Any, live_server: LiveServer) -> None:
    """Every request any page makes goes to the appliance itself: no CDN, analytics or web fonts
    (PRODUCT §6), and no page logs a console error such as a CSP violation (PRODUCT §5: CSP without
    inline script). Checks this test's own visits and everything the other browser tests recorded.
    """
    start = len(live_server.requests)
    portal = new_page(PHONE)
    for path in ("/", "/login"):
        portal.goto(live_server.url + path)
    account = live_server.login_for("registrant@example.com")
    registrant_login(portal, live_server.url, account.email, account.password)
    portal.goto(live_server.url + "/me/password")

    admin = new_page(DESKTOP)
    login_as(admin, live_server, "admin@example.com")
    for path in ("/admin/", "/admin/registrants", f"/admin/registrants/{live_server.registrant_id}",
                 "/admin/security/locks", "/admin/staff", "/admin/staff/new", "/admin/audit",
                 "/admin/account/password", "/admin/does-not-exist"):
        admin.goto(live_server.url + path)
        admin.wait_for_load_state("load")

    own = live_server.requests[start:]
    assert any(url.endswith("/static/css/tsunagu.css") for url in own)
    assert any(url.endswith("/static/js/tsunagu.js") for url in own)
    origin = f"http://127.0.0.1:{live_server.port}/"
    elsewhere = sorted({url for url in live_server.requests if not url.startswith(origin)})
    assert elsewhere == [], f"requests left for somewhere else: {elsewhere}"
    # Everything is served by the appliance and allowed by its CSP: no blocked script, style or image.
    assert live_server.console_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_error_page_404_in_japanese_without_stack_trace(new_page: Any, live_server: LiveServer,
                                                        width: int) -> None:
    """An unknown admin URL gives the Japanese 404 page, not a stack trace (PRODUCT §6)."""
    page = new_page(width)
    login_as(page, live_server, "viewer@example.com")
    response = page.goto(live_server.url + "/admin/does-not-exist")
    assert response is not None and response.status == 404
    assert page.locator("main h1").inner_text() == "ページが見つかりません"
    assert "エラーコード: 404" in page.locator("main").inner_text()
    text = page.locator("body").inner_text()
    for marker in STACK_TRACE_MARKERS:
        assert marker not in text
    check_page(page, "error-404", width)
