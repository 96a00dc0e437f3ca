"""The registration pamphlet (N11) in a real browser: edit, preview, print on A4, read the QR code back."""

from __future__ import annotations

import re
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.support import SCREENSHOTS, check_page, horizontal_overflow, login_as

pytestmark = pytest.mark.browser

A4_WIDTH_PX = 794  # 210 mm at 96 dpi


def _read_qr(path: Any) -> list[str]:
    with Image.open(path) as image:
        return [result.text for result in zxingcpp.read_barcodes(image.convert("L"))]


def test_editor_edits_previews_and_prints_the_pamphlet(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(DESKTOP)
    login_as(page, live_server, "editor@example.com")
    page.goto(live_server.url + "/admin/pamphlet/")
    assert page.locator("h1").inner_text() == "登録案内チラシ"
    check_page(page, "pamphlet-index", DESKTOP)

    page.get_by_role("link", name="文面を編集").click()
    page.get_by_label("見出し").fill("先生の経験を、もう一度地域の学校へ")
    benefits = page.get_by_label("登録のメリット")
    benefits.fill(benefits.input_value() + "\n研修会の案内が届きます")
    page.get_by_role("button", name="プレビュー").click()
    assert page.locator(".pamphlet-preview .pamphlet-title").inner_text() == "先生の経験を、もう一度地域の学校へ"
    assert page.locator(".pamphlet-preview .pamphlet-benefits li").last.inner_text() == "研修会の案内が届きます"
    check_page(page, "pamphlet-preview", DESKTOP)
    page.get_by_role("button", name="保存").click()
    assert "チラシの文面を保存しました。" in page.locator(".flashes").inner_text()
    assert page.locator(".pamphlet-preview .pamphlet-title").inner_text() == "先生の経験を、もう一度地域の学校へ"

    if page.get_by_role("link", name="PDFをダウンロード").count():  # offered when the appliance has a Japanese font
        with page.expect_download() as download_info:
            page.get_by_role("link", name="PDFをダウンロード").click()
        pdf_file = SCREENSHOTS / "pamphlet-download.pdf"
        download_info.value.save_as(pdf_file)
        assert pdf_file.read_bytes().startswith(b"%PDF-")

    page.get_by_role("link", name="印刷用の表示").click()
    assert page.url.endswith("/admin/pamphlet/print")
    page.get_by_role("button", name="印刷").wait_for(state="visible")  # print.js shows it
    registration_url = page.locator(".pamphlet-url").inner_text()
    assert registration_url.endswith("/app")  # self-registration is off in the demo: the app page

    page.set_viewport_size({"width": A4_WIDTH_PX, "height": 1123})
    shot = SCREENSHOTS / f"pamphlet-print-{A4_WIDTH_PX}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _read_qr(shot) == [registration_url]

    page.emulate_media(media="print")  # as printed: no toolbar, the sheet alone
    assert not page.get_by_role("button", name="印刷").is_visible()
    printed = SCREENSHOTS / f"pamphlet-printed-{A4_WIDTH_PX}.png"
    page.screenshot(path=str(printed), full_page=True)
    assert _read_qr(printed) == [registration_url]
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (SCREENSHOTS / "pamphlet.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page(?![a-z])", pdf)) == 1  # everything fits on one A4 sheet
    page.emulate_media(media="screen")

    page.goto(live_server.url + "/admin/outputs/")
    assert "登録案内チラシ" in page.locator("main").inner_text()
    assert not [error for error in live_server.console_errors if "/admin/pamphlet" in error]


def test_pamphlet_pages_fit_a_phone(new_page: Any, live_server: LiveServer) -> None:
    page = new_page(PHONE)
    login_as(page, live_server, "viewer@example.com")
    page.goto(live_server.url + "/admin/pamphlet/")
    assert page.get_by_role("link", name="文面を編集").count() == 0  # a viewer only prints
    assert horizontal_overflow(page) == []
    check_page(page, "pamphlet-index", PHONE)
    page.goto(live_server.url + "/admin/pamphlet/print")
    assert horizontal_overflow(page) == []
    check_page(page, "pamphlet-print", PHONE)
