"""S1 sync admin pages in a real browser, with data: history and chart, quarantine, duplicates, run now.

The app (SQLite) is served in-process on 127.0.0.1 after two syncs from the stub, so every page has rows;
axe-core, breadcrumbs (S-A1) and no sideways scrolling at 375 px (PRODUCT §6) are checked on each.
"""

from __future__ import annotations

import pytest

from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import PHONE, WIDTHS
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, staff_login
from tests.support.e_application import (  # noqa: F401  (fixtures)
    code_masters,
    control,
    fast_backoff,
    stub,
    stub_records,
    sync,
    sync_settings,
)
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("code_masters", "fast_backoff")]


@pytest.fixture
def settings_overrides(sync_settings):  # noqa: F811
    return sync_settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_sync_pages_with_data_pass_axe_and_fit_a_phone(app, stub, served, open_page, make_staff, width):  # noqa: F811
    control(stub, bad_records=["EA-2026-000004", "EA-2026-000005"])
    sync(app)
    control(stub, touch=6, duplicate={"of": "EA-2026-000002", "by": "name_birth"})
    sync(app)
    editor = make_staff("editor")
    page = open_page(width)
    staff_login(page, served, editor.email, STRONG_PASSWORD)
    pages = [("sync-history", "/admin/sync/", "電子申請連携"),
             ("sync-quarantine", "/admin/sync/quarantine", "取り込めなかったレコード"),
             ("sync-duplicates", "/admin/sync/duplicates", "重複候補")]
    for name, path, heading in pages:
        response = page.goto(served + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main h1").inner_text() == heading
        crumbs = page.locator(BREADCRUMBS)
        assert crumbs.locator("li").first.inner_text() == "管理画面トップ", path
        assert crumbs.locator("[aria-current=page]").inner_text() == heading, path
        check_page(page, name, width)
        if width == PHONE:
            assert horizontal_overflow(page) == [], f"{path} scrolls sideways at {width}px"
    assert page.locator("main section.card").count() == 1  # the one duplicate candidate
    page.goto(served + "/admin/sync/")
    assert page.locator("svg.bar-chart rect.bar").count() == 2 + 1
    with page.expect_navigation():
        page.get_by_role("button", name="今すぐ同期").click()
    assert "同期が完了しました" in page.locator(".flash").inner_text()
    assert open_page.errors == []
