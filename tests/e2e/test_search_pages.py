"""S-A2/S-A8/S-A7 in a real browser: an editor searches the demo registrants, picks and orders columns,
selects rows, downloads the CSV, and finds the download in the output history with the same SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, WIDTHS, LiveServer
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, login_as

pytestmark = pytest.mark.browser


def test_editor_searches_selects_exports_and_sees_the_output_history(new_page: Any, live_server: LiveServer,
                                                                     tmp_path: Path) -> None:
    page = new_page(DESKTOP)
    login_as(page, live_server, "editor@example.com")
    page.goto(live_server.url + "/admin/search/")
    assert page.locator("main h1").inner_text() == "登録者検索"
    assert page.locator(BREADCRUMBS).locator("li").first.inner_text() == "管理画面トップ"

    # criteria: active registrants, 20 to 80 years old
    page.locator("summary", has_text="状態").click()
    page.get_by_label("有効", exact=True).check()
    page.get_by_label("年齢(下限)").fill("20")
    page.get_by_label("年齢(上限)").fill("80")
    # columns: ID, name, region, in this order (kana off; region moved in front of the name)
    page.locator("summary", has_text="表示する列と順番").click()
    chooser = page.locator(".column-list")
    for key in ("kana", "age", "licences", "status", "registered_at"):
        chooser.locator(f"#col-{key}").uncheck()
    chooser.locator("#col-id").check()
    page.get_by_role("button", name="検索", exact=True).click()
    page.wait_for_load_state()
    headers = page.locator(".results-table thead th").all_inner_texts()
    assert [h.strip(" ▲▼") for h in headers[1:]] == ["氏名", "居住地域", "登録者ID"]
    page.locator("summary", has_text="表示する列と順番").click()
    page.get_by_role("button", name="居住地域を上へ").click()
    page.wait_for_load_state()
    headers = [h.strip(" ▲▼") for h in page.locator(".results-table thead th").all_inner_texts()]
    assert headers[1:] == ["居住地域", "氏名", "登録者ID"]
    total = int(page.locator("#results-heading small").inner_text().split(" 件")[0])
    assert total > 3
    check_page(page, "search-results", DESKTOP)

    # select all on the page, then untick all but three rows
    page.get_by_label("このページをすべて選択").check()
    boxes = page.locator(".row-select")
    assert boxes.count() == min(total, 50)
    assert page.locator(".selected-count").inner_text() == f"{boxes.count()} 行を選択中"
    for index in range(3, boxes.count()):
        boxes.nth(index).uncheck()
    assert page.locator(".selected-count").inner_text() == "3 行を選択中"
    chosen = [boxes.nth(i).get_attribute("value") for i in range(3)]

    with page.expect_download() as download_info:
        page.get_by_role("button", name="選択した行をCSV出力").click()
    download = download_info.value
    assert download.suggested_filename.startswith("tsunagu-registrants-") and download.suggested_filename.endswith(
        ".csv")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    body = target.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["居住地域", "氏名", "登録者ID"]
    assert sorted(row[2] for row in rows[1:]) == sorted(chosen)

    page.goto(live_server.url + "/admin/outputs/")
    assert page.locator("main h1").inner_text() == "出力履歴"
    first = page.locator("main table tbody tr").first
    assert download.suggested_filename in first.inner_text()
    assert hashlib.sha256(body).hexdigest() in first.inner_text()
    assert "デモ 更新担当" in first.inner_text() and "選択行数: 3" in first.inner_text()
    check_page(page, "output-history", DESKTOP)


@pytest.mark.parametrize("width", WIDTHS)
def test_search_and_saved_pages_pass_axe_at_both_widths(new_page: Any, live_server: LiveServer, width: int) -> None:
    page = new_page(width)
    login_as(page, live_server, "editor@example.com")
    page.goto(live_server.url + "/admin/search/?per_page=20")
    page.locator("summary", has_text="居住地域").click()
    check_page(page, "search", width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], "the search page scrolls sideways on a phone"
    page.locator("summary", has_text="この条件を保存").click()
    page.get_by_label("検索の名前").fill(f"ブラウザ試験 {width}")
    page.get_by_label("他の職員と共有する").check()
    with page.expect_navigation():
        page.get_by_role("button", name="保存", exact=True).click()
    assert f"ブラウザ試験 {width}" in page.locator(".notice").inner_text()
    page.goto(live_server.url + "/admin/search/saved")
    assert page.locator("main h1").inner_text() == "保存した検索"
    check_page(page, "search-saved", width)
    response = page.goto(live_server.url + "/admin/search/?page=1000000000&sort=password")
    assert response is not None and response.status == 400
    assert "ページ番号は1から" in page.locator(".error-summary").inner_text()
    check_page(page, "search-bad-params", width)
    page.goto(live_server.url + "/admin/outputs/")
    check_page(page, "outputs", width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], "the output history scrolls sideways on a phone"
