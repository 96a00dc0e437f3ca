"""N6 in a real browser: a registrant on a 375 px phone reads an article with an uploaded image and opens an
inbox message (axe-checked, screenshotted to build/screenshots/)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from app.articles import services as articles
from app.articles import storage
from app.articles.markdown import image_src
from app.core.timeutil import utcnow
from app.extensions import db
from app.inbox import services as inbox
from app.registrants.models import Registrant
from app.staff.models import StaffUser
from tests.conftest import STRONG_PASSWORD
from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.support import check_page, horizontal_overflow, registrant_login, staff_login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

pytestmark = pytest.mark.browser


def _figure() -> bytes:
    image = Image.new("RGB", (800, 450), (214, 232, 248))
    image.paste((29, 79, 145), (100, 100, 700, 350))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _content(app: Any, make_staff: Any, registrant_id: int) -> None:
    staff = make_staff("editor")
    with app.app_context():
        editor = db.session.get(StaffUser, staff.id)
        picture = storage.store_image(db.session, app.instance_path, editor, _figure(), "figure.png", "image/png",
                                      app.extensions["tsunagu.settings"].image_max_bytes)
        body = (f"学校現場への復職を歓迎しています。\n\n![青い図形のイラスト]({image_src(picture.id)})\n\n"
                "## 募集の種類\n\n| 任用形態 | 時期 |\n|---|---|\n| 臨時的任用 | 随時 |\n\n"
                "[教育委員会のページ](https://www.example.com/recruit)")
        articles.save_article(db.session, editor, None, {
            "title": "復職を考えている方へ", "summary": "採用情報をまとめました。", "body_markdown": body,
            "category_id": None, "publish_at": utcnow() - timedelta(hours=1)})
        inbox.send_direct(db.session, editor, db.session.get(Registrant, registrant_id), "交流会のお知らせ",
                          "来月、交流会を開きます。\n\n詳しくは記事をご覧ください。", email=False)
        db.session.commit()


def test_registrant_on_a_phone_reads_an_article_with_an_image_and_an_inbox_message(
        app: Any, served: str, open_page: Any, make_staff: Any, make_registrant: Any) -> None:
    me = make_registrant(email="reader@example.com")
    _content(app, make_staff, me.id)
    page = open_page(PHONE)
    registrant_login(page, served, me.email, STRONG_PASSWORD)

    page.goto(f"{served}/articles")
    assert horizontal_overflow(page) == []
    check_page(page, "articles-phone", PHONE)
    page.get_by_role("link", name="復職を考えている方へ").click()
    page.wait_for_load_state("load")
    picture = page.get_by_role("img", name="青い図形のイラスト")
    assert picture.evaluate("img => img.complete && img.naturalWidth") == 800  # the image really loaded
    box = picture.bounding_box()
    assert box is not None and box["width"] <= PHONE  # scaled down to the phone
    assert page.get_by_role("heading", level=1).inner_text() == "復職を考えている方へ"
    assert horizontal_overflow(page) == []
    check_page(page, "article-phone", PHONE)

    page.goto(f"{served}/inbox")
    assert page.locator(".unread-badge").count() == 1
    page.get_by_role("link", name="交流会のお知らせ").click()
    page.wait_for_load_state("load")
    assert "来月、交流会を開きます。" in page.locator("main").inner_text()
    assert horizontal_overflow(page) == []
    check_page(page, "inbox-message-phone", PHONE)
    page.goto(f"{served}/inbox")
    assert page.locator(".unread-badge").count() == 0
    check_page(page, "inbox-phone", PHONE)
    assert open_page.errors == []


def test_editor_uploads_an_image_previews_publishes_and_sends_a_message(
        app: Any, served: str, open_page: Any, make_staff: Any, make_registrant: Any, tmp_path: Any) -> None:
    make_registrant(email="one@example.com")
    make_registrant(email="two@example.com", mail_consent=False)
    editor = make_staff("editor")
    figure = tmp_path / "figure.png"
    figure.write_bytes(_figure())
    page = open_page(DESKTOP)
    staff_login(page, served, editor.email, STRONG_PASSWORD)

    page.goto(f"{served}/admin/articles/new")
    page.get_by_label("見出し").fill("交流会の報告")
    page.get_by_label("本文(Markdown)").fill("交流会を開きました。")
    page.get_by_label("画像ファイル").set_input_files(str(figure))
    page.get_by_role("button", name="画像をアップロード").click()
    page.wait_for_load_state("load")
    snippet = page.locator(".article-uploaded .article-snippet").inner_text()
    assert snippet.startswith("![説明](/articles/images/")
    assert page.get_by_label("見出し").input_value() == "交流会の報告"  # nothing typed is lost
    body = page.get_by_label("本文(Markdown)")
    body.fill(body.input_value() + "\n\n" + snippet.replace("説明", "会場の様子"))
    page.get_by_role("button", name="プレビュー").click()
    page.wait_for_load_state("load")
    assert page.locator(".article-preview img").evaluate("img => img.naturalWidth") == 800
    check_page(page, "article-edit-preview", DESKTOP)
    page.get_by_label("公開する(公開中の記事は公開日時をそのまま保ちます)").check()
    page.get_by_role("button", name="保存", exact=True).click()
    page.wait_for_load_state("load")
    assert "公開中" in page.locator("main table").inner_text()
    check_page(page, "article-list", DESKTOP)

    page.goto(f"{served}/admin/messages/new")
    page.get_by_label("件名").fill("交流会の報告を掲載しました")
    page.get_by_label("本文").fill("記事の一覧からご覧ください。")
    page.get_by_role("button", name="確認へ進む").click()
    page.wait_for_load_state("load")
    assert page.locator(".stat-value").all_inner_texts() == ["2", "1"]
    check_page(page, "message-confirm", DESKTOP)
    page.get_by_role("button", name="この内容で送信する").click()
    page.wait_for_load_state("load")
    assert page.locator("svg.read-chart").count() == 1
    check_page(page, "message-detail", DESKTOP)
    assert open_page.errors == []
