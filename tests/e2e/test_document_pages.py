"""Forms and reports in a real browser: download the application form, read the reports, print them (S-A8/A9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.support import SCREENSHOTS, check_page, horizontal_overflow, login_as

pytestmark = pytest.mark.browser


def test_editor_downloads_the_application_form_from_the_documents_page(new_page: Any, live_server: LiveServer,
                                                                       tmp_path: Path) -> None:
    page = new_page(DESKTOP)
    login_as(page, live_server, "editor@example.com")
    page.goto(live_server.url + "/admin/documents/")
    assert page.locator("h1").inner_text() == "様式・帳票"
    check_page(page, "documents-index", DESKTOP)
    page.get_by_label("登録者ID").fill(str(live_server.registrant_id))
    page.get_by_label("和暦(例: 令和8年4月1日)").check()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="採用志願書をダウンロード").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"tsunagu-application-{live_server.registrant_id}-")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    wb = load_workbook(target)
    sheet, ref = next(iter(wb.defined_names["applicant_name"].destinations))
    assert wb[sheet][ref.replace("$", "").split(":")[0]].value == live_server.registrant_name

    page.get_by_label("登録者ID").fill("99999999")
    with page.expect_navigation():
        page.get_by_role("button", name="採用志願書をダウンロード").click()
    assert "この登録者IDの登録者はいません。" in page.locator("main").inner_text()


def test_reports_on_screen_in_the_print_view_and_as_printed(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(DESKTOP)
    login_as(page, live_server, "editor@example.com")
    page.goto(live_server.url + "/admin/documents/reports")
    check_page(page, "reports-index", DESKTOP)
    page.get_by_role("link", name="登録者数の集計(地域別・希望職種別・状態別・登録月別)").click()
    assert page.locator("h1").inner_text() == "登録者数の集計"
    assert page.locator("svg.bar-chart").count() == 4
    check_page(page, "reports-counts", DESKTOP)

    page.emulate_media(media="print")  # the admin page itself printed: no menu, no buttons
    assert not page.locator("#admin-nav").is_visible() and not page.locator(".report-actions").is_visible()
    page.screenshot(path=str(SCREENSHOTS / f"reports-counts-printed-{DESKTOP}.png"), full_page=True)
    page.emulate_media(media="screen")

    page.get_by_role("link", name="印刷用の表示").click()
    assert "print=1" in page.url and page.locator(".print-header h1").inner_text() == "登録者数の集計"
    assert "印刷日時" in page.locator(".print-header").inner_text()
    print_button = page.get_by_role("button", name="印刷")
    assert print_button.is_visible()  # un-hidden by js/print.js
    check_page(page, "reports-counts-print-view", DESKTOP)
    page.emulate_media(media="print")
    assert not print_button.is_visible()
    page.screenshot(path=str(SCREENSHOTS / f"reports-counts-print-media-{DESKTOP}.png"), full_page=True)
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")


@pytest.mark.parametrize(("path", "name", "title"), [
    ("/admin/documents/reports/sync", "reports-sync", "同期履歴"),
    ("/admin/documents/reports/mail", "reports-mail", "メール送信履歴"),
    ("/admin/documents/reports/registrants?statuses=active&columns=id,name,kana,region,licences,job_types,status",
     "reports-registrants", "登録者一覧"),
])
def test_report_pages_and_print_views_pass_axe(new_page: Any, live_server: LiveServer, path: str, name: str,
                                               title: str) -> None:
    for width in (DESKTOP, PHONE):
        page = new_page(width)
        login_as(page, live_server, "viewer@example.com")
        page.goto(live_server.url + path)
        assert page.locator("h1").inner_text() == title
        assert not page.get_by_role("link", name="Excel(.xlsx)で出力").count()  # viewers read, editors export
        check_page(page, name, width)
        assert horizontal_overflow(page) == [], name
        page.goto(live_server.url + path + ("&" if "?" in path else "?") + "print=1")
        check_page(page, f"{name}-print-view", width)


def test_administrator_template_page(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(DESKTOP)
    login_as(page, live_server, "admin@example.com")
    page.goto(live_server.url + "/admin/documents/templates")
    assert page.locator("h1").inner_text() == "採用志願書のテンプレート"
    assert "既定の様式を使用しています。" in page.locator("main").inner_text()
    check_page(page, "documents-templates", DESKTOP)
