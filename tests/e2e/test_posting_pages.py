"""Job postings in a real browser (S-A12): an editor creates, corrects and publishes a posting through the
form; a registrant then finds it in the portal. Every page is screenshot and axe-checked at both widths."""

from __future__ import annotations

from typing import Any

import pytest

from app.demo.services import DEMO_REGISTRANT_EMAIL
from tests.e2e.conftest import DESKTOP, PHONE, WIDTHS, LiveServer
from tests.e2e.support import check_page, horizontal_overflow, login_as, registrant_login

pytestmark = pytest.mark.browser

TITLE = "中学校 数学 常勤講師(ブラウザ試験)"
SCHOOL = "架空市立ブラウザ中学校"


def _checked(page: Any, name: str, width: int) -> None:
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


def _at_both_widths(page: Any, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        _checked(page, name, width)
    page.set_viewport_size({"width": DESKTOP, "height": 900})


def _group(form: Any, name: str) -> Any:
    return form.get_by_role("group", name=name, exact=True)


def _submit(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name=name, exact=True).click()


def test_an_editor_publishes_a_posting_that_a_registrant_then_sees(new_page: Any, live_server: LiveServer) -> None:
    editor = new_page(DESKTOP)
    login_as(editor, live_server, "editor@example.com")
    editor.goto(live_server.url + "/admin/postings/")
    assert "架空市立第一中学校" in editor.locator("main table").inner_text()  # the demo postings
    _at_both_widths(editor, "admin-postings-list")
    with editor.expect_navigation():
        editor.locator("main").get_by_role("link", name="求人を作成").click()
    _at_both_widths(editor, "admin-posting-new")

    form = editor.locator("main form.posting-form")
    form.locator("#title").fill(TITLE)
    form.locator("#school_name").fill(SCHOOL)
    form.locator("#school_type").select_option(label="中学校")
    form.locator("#region").select_option(label="諫早市")
    form.locator("#job_type").select_option(label="常勤講師")
    form.locator("#employment_type").select_option(label="臨時的任用")
    _group(form, "教科").get_by_label("数学", exact=True).check()
    _group(form, "必須の免許(いずれか1つ)").get_by_label("中学校教諭一種", exact=True).check()
    _group(form, "歓迎する免許").get_by_label("高等学校教諭一種", exact=True).check()
    form.locator("#period_start").fill("2030-04-01")
    form.locator("#period_end").fill("2030-03-31")  # before the start: refused
    form.locator("#openings").fill("0")  # refused
    form.locator("#days_hours").fill("月〜金 8:15〜16:45")
    form.locator("#description").fill("第2学年の数学を担当していただきます。")
    form.locator("#contact").fill(f"{SCHOOL} 事務室 000-000-0099 browser@example.com")
    _submit(editor, "保存")
    assert editor.locator("#period_end-errors").inner_text() == "勤務期間の終了日は開始日以降にしてください。"
    assert editor.locator("#openings-errors").inner_text() == "募集人数は1人以上にしてください。"
    assert editor.locator("#openings").get_attribute("aria-invalid") == "true"
    assert _group(form, "教科").get_by_label("数学", exact=True).is_checked()  # nothing typed is lost
    _at_both_widths(editor, "admin-posting-errors")

    form.locator("#period_end").fill("2031-03-31")
    form.locator("#openings").fill("1")
    _submit(editor, "保存")
    assert "/admin/postings/" in editor.url and "/edit" not in editor.url
    assert "下書きとして保存しました" in editor.locator("main .flash-info").inner_text()
    _submit(editor, "公開する(募集開始)")
    assert "求人を公開しました" in editor.locator("main .flash-info").inner_text()
    details = editor.locator("main").inner_text()
    assert "募集中" in details and "登録者ページに掲載中" in details and "中学校教諭一種" in details
    _at_both_widths(editor, "admin-posting-detail")

    registrant = new_page(PHONE)
    registrant_login(registrant, live_server.url, DEMO_REGISTRANT_EMAIL,
                     live_server.login_for(DEMO_REGISTRANT_EMAIL).password)
    registrant.goto(live_server.url + "/me")
    with registrant.expect_navigation():
        registrant.locator("main").get_by_role("link", name="求人情報を見る").click()
    listing = registrant.locator("main").inner_text()
    assert TITLE in listing and "架空市立第一中学校" in listing
    assert "(来月掲載)" not in listing and "ソフトテニス" not in listing  # not yet published / not for the portal
    _at_both_widths(registrant, "portal-postings")
    with registrant.expect_navigation():
        registrant.locator("main").get_by_role("link", name=TITLE).click()
    page_text = registrant.locator("main").inner_text()
    assert SCHOOL in page_text and "browser@example.com" in page_text and "高等学校教諭一種" in page_text
    _at_both_widths(registrant, "portal-posting-detail")

    registrant.goto(live_server.url + "/me/preferences")
    registrant.get_by_label("条件に合う新着求人をメールで受け取る").check()
    _submit(registrant, "保存する")
    assert registrant.get_by_label("条件に合う新着求人をメールで受け取る").is_checked()
    _at_both_widths(registrant, "portal-preferences-posting-mail")
