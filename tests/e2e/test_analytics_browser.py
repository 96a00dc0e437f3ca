"""The analytics dashboard in a real browser: charts drawn without script, axe-clean, the report downloads."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from app.analytics import demo
from app.extensions import db
from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import DESKTOP
from tests.e2e.support import check_page, horizontal_overflow, staff_login

pytestmark = pytest.mark.browser


def test_dashboard_at_1280_has_charts_tables_and_downloads_the_monthly_report(app, served, open_page, make_staff,
                                                                           make_registrant, tmp_path: Path) -> None:
    for n in range(12):
        make_registrant(email=f"demo{n}@example.com", source="demo")
    with app.app_context():
        assert demo.load(db.session, random.Random(7)) > 100
    viewer = make_staff("viewer")
    page: Any = open_page(DESKTOP)
    staff_login(page, served, viewer.email, STRONG_PASSWORD)
    page.goto(served + "/admin/analytics/")
    assert page.locator("h1").inner_text() == "利用状況・月次報告"
    assert page.locator("svg.series-chart").count() == 4
    assert int(page.locator("#figure-views").inner_text().replace(",", "")) > 0
    assert "メールの開封は計測していません(追跡画像を使わないため)" in page.locator("main").inner_text()
    page.get_by_text("「ページ閲覧数とログイン数」の数値を表で見る").click()
    assert page.get_by_role("table", name="ページ閲覧数とログイン数").is_visible()
    check_page(page, "analytics-dashboard", DESKTOP)
    assert horizontal_overflow(page) == []

    page.get_by_label("期間", exact=True).select_option("months")
    with page.expect_navigation():
        page.get_by_role("button", name="表示", exact=True).click()
    assert "period=months" in page.url
    check_page(page, "analytics-dashboard-months", DESKTOP)

    with page.expect_download() as info:
        page.get_by_role("button", name="月次報告書をダウンロード").click()
    download = info.value
    assert download.suggested_filename.startswith("tsunagu-monthly-report-")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    wb = load_workbook(target)
    assert wb.sheetnames == ["概要", "登録者", "アクセス", "メッセージ", "アンケート", "イベント"]
    assert open_page.errors == []
