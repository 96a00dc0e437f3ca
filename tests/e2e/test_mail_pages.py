"""S-A3 in a real browser: an editor composes to five registrants with a template, previews, sends; the
worker delivers to a real SMTP listener; the compose, history and campaign pages pass axe at both widths."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from app.mail.models import MailTemplate
from app.registrants.models import Registrant
from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import PHONE, WIDTHS
from tests.e2e.support import BREADCRUMBS, check_page, horizontal_overflow, staff_login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)
from tests.support.smtp import smtp_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides(smtp_server):  # noqa: F811
    return {"smtp_port": smtp_server[1], "public_base_url": "https://tsunagu.example.jp"}


def _check(page: Any, name: str, width: int, heading: str) -> None:
    assert page.locator("main h1").inner_text() == heading
    assert page.locator(BREADCRUMBS).locator("li").first.inner_text() == "管理画面トップ"
    check_page(page, name, width)
    if width == PHONE:
        assert horizontal_overflow(page) == [], f"{page.url} scrolls sideways at {width}px"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_editor_composes_previews_and_sends_to_five(app, served, open_page, make_staff, make_registrant,
                                                    smtp_server, width):  # noqa: F811
    inbox, _port = smtp_server
    names = [("山田", "花子"), ("佐藤", "太郎"), ("鈴木", "一郎"), ("高橋", "美咲"), ("田中", "健")]
    people = [make_registrant(email=f"person{n}@example.com", family_name=family, given_name=given)
              for n, (family, given) in enumerate(names)]
    with app.app_context():
        db.session.add(MailTemplate(name="研修のご案内", subject="【つなぐ】{{ 姓 }}様 研修のご案内",
                                    body="{{ 氏名 }} 様\n\n研修会を開催します。\n登録期限: {{ 登録期限 }}"))
        db.session.commit()
    editor = make_staff("editor")
    page = open_page(width)
    staff_login(page, served, editor.email, STRONG_PASSWORD)

    query = "&".join(f"registrant_id={p.id}" for p in people)  # the search page's link for a selection
    page.goto(f"{served}/admin/mail/compose/?{query}")
    assert "5 人に送信、0 人は除外" in page.locator("main").inner_text()
    page.get_by_label("ひな形").select_option(label="研修のご案内")
    with page.expect_navigation():
        page.get_by_role("button", name="ひな形を読み込む").click()
    assert page.get_by_label("件名").input_value() == "【つなぐ】{{ 姓 }}様 研修のご案内"
    page.get_by_label("プレビューする宛先").select_option(value=str(people[1].id))
    with page.expect_navigation():
        page.get_by_role("button", name="プレビュー").click()
    assert page.locator(".preview-subject").inner_text() == "【つなぐ】佐藤様 研修のご案内"
    assert "佐藤 太郎 様" in page.locator(".preview-body").inner_text()
    _check(page, "mail-compose", width, "メール作成")

    with page.expect_navigation():
        page.get_by_role("button", name="5 人に送信する").click()
    assert "5 人への送信を受け付けました" in page.locator(".flash").inner_text()
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--once"])
    assert "5 sent" in result.output, result.output
    assert sorted(m["To"] for m in inbox.messages) == [f"person{n}@example.com" for n in range(5)]
    assert {m["Subject"] for m in inbox.messages} == {f"【つなぐ】{f}様 研修のご案内" for f, _g in names}

    page.reload()
    assert "送信済 5・失敗 0・送信待ち 0・不達 0" in page.locator("main").inner_text()
    _check(page, "mail-campaign", width, "【つなぐ】{{ 姓 }}様 研修のご案内")
    page.goto(f"{served}/admin/mail/campaigns")
    assert page.locator("main table tbody tr").count() == 1
    assert page.locator("svg.campaign-bar").count() == 1
    _check(page, "mail-history", width, "メール送信履歴")

    link = next(m for m in inbox.messages if m["To"] == "person0@example.com")["List-Unsubscribe"].strip("<>")
    visitor = open_page(width)  # the registrant, not logged in, follows the link from the mail
    visitor.goto(served + urlsplit(link).path)
    assert visitor.locator("main h1").inner_text() == "お知らせメールの配信停止"
    check_page(visitor, "mail-unsubscribe", width)
    with visitor.expect_navigation():
        visitor.get_by_role("button", name="配信を停止する").click()
    assert visitor.locator("main h1").inner_text() == "配信を停止しました"
    with app.app_context():
        assert not db.session.get(Registrant, people[0].id).mail_consent
    assert open_page.errors == []
