"""Staff users, two-factor login, code masters, news and videos in a real browser (S-A10/A11/A14/A15/A16)."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest

from tests.e2e.conftest import DESKTOP, PHONE, WIDTHS, LiveServer, page_factory
from tests.e2e.support import check_page, horizontal_overflow, login_as, submit_login

pytestmark = pytest.mark.browser

NEW_STAFF_EMAIL = "totp-e2e@example.com"
NEW_STAFF_NAME = "二要素 試験担当"
NEW_STAFF_PASSWORD = "Nagasaki2026Dejima"


def _click(page: Any, name: str) -> None:
    with page.expect_navigation():
        page.locator("main").get_by_role("button", name=name, exact=True).click()


def _checked(page: Any, name: str, width: int) -> None:
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


def test_admin_creates_and_edits_staff_who_then_enrols_and_logs_in_with_totp(new_page: Any,
                                                                              live_server: LiveServer) -> None:
    admin = new_page(DESKTOP)
    login_as(admin, live_server, "admin@example.com")
    admin.goto(live_server.url + "/admin/staff/new")
    admin.locator("#email").fill(NEW_STAFF_EMAIL)
    admin.locator("#display_name").fill(NEW_STAFF_NAME)
    admin.locator("#role").select_option("viewer")
    admin.locator("#password").fill(NEW_STAFF_PASSWORD)
    _click(admin, "登録")
    assert admin.url.endswith("/admin/staff")
    row = admin.locator("tbody tr").filter(has_text=NEW_STAFF_EMAIL)
    with admin.expect_navigation():
        row.get_by_role("link", name=f"{NEW_STAFF_NAME} を編集").click()
    _checked(admin, "admin-staff-edit", DESKTOP)
    admin.locator("#role").select_option("editor")
    _click(admin, "保存")
    assert "管理者ユーザーを更新しました。" in admin.locator("main .flash-info").inner_text()
    assert "更新可" in admin.locator("tbody tr").filter(has_text=NEW_STAFF_EMAIL).inner_text()

    staff = new_page(PHONE)
    submit_login(staff, live_server.url, "/admin/login", NEW_STAFF_EMAIL, NEW_STAFF_PASSWORD)
    staff.goto(live_server.url + "/admin/account")
    _checked(staff, "admin-account", PHONE)
    with staff.expect_navigation():
        staff.locator("main").get_by_role("link", name="二要素認証を設定する").click()
    assert staff.locator("main img[src^='data:image/svg+xml']").count() == 1
    _checked(staff, "admin-totp-setup", PHONE)
    secret = re.sub(r"\s", "", staff.locator("#totp-secret").inner_text())
    staff.locator("#code").fill(pyotp.TOTP(secret).now())
    _click(staff, "設定を完了する")
    assert "二要素認証を設定しました。" in staff.locator("main .flash-info").inner_text()
    toggle = staff.locator(".nav-toggle")
    if toggle.is_visible():  # on a phone the menu (with the logout button) is folded away
        toggle.click()
    with staff.expect_navigation():
        staff.locator("#admin-nav").get_by_role("button", name="ログアウト").click()

    submit_login(staff, live_server.url, "/admin/login", NEW_STAFF_EMAIL, NEW_STAFF_PASSWORD)
    assert staff.url.endswith("/admin/login/code")
    _checked(staff, "admin-login-code", PHONE)
    staff.locator("#code").fill(pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current step
    _click(staff, "ログイン")
    assert staff.url.rstrip("/").endswith("/admin")
    assert staff.locator("#admin-nav").get_by_text(NEW_STAFF_NAME).count() == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_masters_and_staff_pages_screenshots_and_axe(new_page: Any, live_server: LiveServer, width: int) -> None:
    page = new_page(width)
    login_as(page, live_server, "admin@example.com")
    for name, path, heading in (("admin-codes", "/admin/codes?kind=region", "コードマスタ"),
                                ("admin-codes-new", "/admin/codes/new?kind=tag", "コードの追加"),
                                ("admin-news", "/admin/news", "お知らせ・動画"),
                                ("admin-news-new", "/admin/news/new", "お知らせの作成"),
                                ("admin-video-new", "/admin/news/videos/new", "動画の追加"),
                                ("admin-staff-search", "/admin/staff?state=enabled", "管理者ユーザー")):
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main h1").inner_text() == heading, path
        _checked(page, name, width)
    page.goto(live_server.url + "/admin/codes?kind=region")
    for town in ("五島市(離島)", "新上五島町(離島)", "対馬市(離島)", "壱岐市(離島)"):
        assert page.locator("main tbody").get_by_text(town, exact=True).count() == 1, town


def test_admin_renames_a_code_and_editor_publishes_news_and_a_video(new_page: Any, browser: Any,
                                                                     live_server: LiveServer) -> None:
    admin = new_page(DESKTOP)
    login_as(admin, live_server, "admin@example.com")
    admin.goto(live_server.url + "/admin/codes?kind=tag")
    row = admin.locator("tbody tr").filter(has_text="要連絡")
    with admin.expect_navigation():
        row.get_by_role("link", name="「要連絡」を編集").click()
    _checked(admin, "admin-code-edit", DESKTOP)
    admin.locator("#label").fill("要連絡(至急)")
    _click(admin, "保存")
    assert admin.url.endswith("/admin/codes?kind=tag")
    renamed = admin.locator("tbody tr").filter(has_text="要連絡(至急)")
    assert "旧名称: 要連絡" in renamed.inner_text()

    editor = new_page(DESKTOP)
    login_as(editor, live_server, "editor@example.com")
    editor.goto(live_server.url + "/admin/news/new")
    editor.locator("#title").fill("ブラウザ試験のお知らせ")
    editor.locator("#body").fill("一段落目です。\n詳しくは https://www.example.com/e2e をご覧ください。\n\n二段落目です。")
    _click(editor, "プレビュー")
    assert editor.locator(".news-preview .news-body p").count() == 2
    _checked(editor, "admin-news-preview", DESKTOP)
    _click(editor, "保存")
    assert "お知らせを保存しました。" in editor.locator("main .flash-info").inner_text()
    editor.goto(live_server.url + "/admin/news/videos/new")
    editor.locator("#title").fill("ブラウザ試験の動画")
    editor.locator("#url").fill("https://www.youtube.com.evil.example/watch?v=AbC_12-xYz9")
    _click(editor, "保存")
    assert "YouTubeの動画のURLを入力してください" in editor.locator("main").inner_text()
    editor.locator("#url").fill("https://youtu.be/AbC_12-xYz9")
    _click(editor, "保存")
    assert "ブラウザ試験の動画" in editor.locator("main").inner_text()

    for width in (PHONE, DESKTOP):
        portal = new_page(width)
        portal.goto(live_server.url + "/")
        news = portal.locator("section.news")
        assert news.get_by_role("heading", name="ブラウザ試験のお知らせ").count() == 1
        assert news.get_by_role("link", name="https://www.example.com/e2e").get_attribute("rel") == "noopener"
        videos = portal.locator("section.videos")
        assert videos.get_by_role("link", name="YouTubeで見る: ブラウザ試験の動画").get_attribute("href") == \
            "https://www.youtube.com/watch?v=AbC_12-xYz9"
        assert portal.locator("iframe").count() == 0  # nothing loads from YouTube until asked
        _checked(portal, "portal-index-news", width)

    # Pressing play puts the privacy-enhanced player in place. Its own browser context, so the YouTube
    # request (blocked there, as every outside request is) stays out of the shared server's records.
    with page_factory(browser, live_server.url, console_errors=[], requests=[]) as private_page:
        portal = private_page(DESKTOP)
        portal.goto(live_server.url + "/")
        card = portal.locator(".video-card").filter(has_text="ブラウザ試験の動画")
        card.get_by_role("button", name="動画を再生する(YouTubeに接続します)").click()
        frame = card.locator("iframe")
        assert frame.get_attribute("src") == "https://www.youtube-nocookie.com/embed/AbC_12-xYz9"
        assert frame.get_attribute("title") == "ブラウザ試験の動画"
        assert frame.get_attribute("loading") == "lazy"
