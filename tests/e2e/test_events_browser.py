"""Events and inquiries in a real browser: staff publish an event; a registrant on a 375 px phone RSVPs and
sends an inquiry; staff see both. Every page is screenshot and axe-checked."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.support import check_page, horizontal_overflow, login_as, registrant_login

pytestmark = pytest.mark.browser


def phone_check(page: Any, name: str) -> None:
    check_page(page, name, PHONE)
    assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {PHONE}px"


def test_a_registrant_rsvps_on_a_phone_and_sends_an_inquiry(new_page: Any, live_server: LiveServer) -> None:
    title = f"ブラウザ試験の交流会 {secrets.token_hex(3)}"
    staff = new_page(DESKTOP)
    login_as(staff, live_server, "editor@example.com")
    staff.goto(live_server.url + "/admin/events/new")
    check_page(staff, "events-admin-form", DESKTOP)
    staff.get_by_label("イベント名").fill(title)
    staff.get_by_label("説明").fill("登録者どうしの交流会です。\nお気軽にどうぞ。")
    staff.get_by_label("開始日時").fill("2031-07-10T14:00")
    staff.get_by_label("終了日時").fill("2031-07-10T16:00")
    staff.get_by_label("会場").fill("架空県庁 講堂")
    staff.get_by_label("定員").fill("20")
    with staff.expect_navigation():
        staff.get_by_role("button", name="保存").click()
    assert "イベントを保存しました(下書き)" in staff.locator("main").inner_text()
    with staff.expect_navigation():
        staff.get_by_role("button", name="公開する").click()
    assert "イベントを公開しました" in staff.locator("main").inner_text()
    event_url = staff.url
    check_page(staff, "events-admin-detail", DESKTOP)

    phone = new_page(PHONE)
    account = live_server.login_for("registrant@example.com")
    registrant_login(phone, live_server.url, account.email, account.password)
    phone.goto(live_server.url + "/events/")
    phone_check(phone, "events-portal-list")
    with phone.expect_navigation():
        phone.get_by_role("link", name=title).click()
    assert "残り 20 席" in phone.locator("main").inner_text()
    phone_check(phone, "events-portal-detail")
    with phone.expect_navigation():
        phone.get_by_role("button", name="参加を申し込む").click()
    main = phone.locator("main").inner_text()
    assert "参加の申込を受け付けました。" in main and "残り 19 席" in main
    phone_check(phone, "events-portal-going")

    phone.goto(live_server.url + "/inquiries/new")
    phone_check(phone, "inquiries-portal-form")
    subject = f"駐車場について {secrets.token_hex(3)}"
    phone.get_by_label("件名").fill(subject)
    phone.get_by_label("お問い合わせの内容").fill("会場に駐車場はありますか。")
    with phone.expect_navigation():
        phone.get_by_role("button", name="確認画面へ").click()
    assert subject in phone.locator("main").inner_text()
    phone_check(phone, "inquiries-portal-confirm")
    with phone.expect_navigation():
        phone.get_by_role("button", name="送信する").click()
    assert "お問い合わせを受け付けました" in phone.locator("main").inner_text()
    phone_check(phone, "inquiries-portal-sent")
    phone.goto(live_server.url + "/inquiries/")
    assert subject in phone.locator("main").inner_text()
    phone_check(phone, "inquiries-portal-list")

    staff.goto(event_url)
    assert live_server.registrant_name in staff.locator("main").inner_text()
    staff.goto(live_server.url + "/admin/inquiries")
    check_page(staff, "inquiries-admin-list", DESKTOP)
    with staff.expect_navigation():
        staff.get_by_role("link", name=subject).click()
    assert "会場に駐車場はありますか。" in staff.locator("main").inner_text()
    check_page(staff, "inquiries-admin-detail", DESKTOP)
    staff.get_by_role("textbox", name="回答").fill("会場に無料の駐車場があります。")
    with staff.expect_navigation():
        staff.get_by_role("button", name="回答を送信").click()
    assert "回答を送信し、対応履歴に記録しました。" in staff.locator("main").inner_text()
    phone.goto(live_server.url + "/inquiries/")
    assert "会場に無料の駐車場があります。" in phone.locator("main").inner_text()
    assert live_server.console_errors == []
