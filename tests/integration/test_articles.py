"""N6 articles: Markdown sanitised to a safe subset, uploaded images checked by content and served by id,
draft / scheduled / published, categories, the registrant list and page."""

from __future__ import annotations

import io
import re
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from PIL import Image

from app.articles import services
from app.articles.markdown import render, sanitise
from app.articles.models import Article, UploadedImage
from app.articles.storage import image_path
from app.audit.models import AuditEvent
from app.codes.models import Code
from app.core.timeutil import to_tokyo, utcnow
from app.extensions import db
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

NEW = "/admin/articles/new"


def _png(size: tuple[int, int] = (40, 30), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0).save(out, format=fmt)
    return out.getvalue()


def _staff_client(app: Flask, make_staff, role: str = "editor"):
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _registrant_client(app: Flask, make_registrant):
    client = app.test_client()
    me = make_registrant()
    assert login(client, me.email, STRONG_PASSWORD, realm="portal").status_code == 302
    return client


def _local(moment) -> str:
    return to_tokyo(moment).strftime("%Y-%m-%dT%H:%M")


def _article(app: Flask, title: str, publish_at, body: str = "本文です。", category_id: int | None = None) -> int:
    with app.app_context():
        article = Article(title=title, body_markdown=body, body_html=render(body), publish_at=publish_at,
                          category_id=category_id)
        db.session.add(article)
        db.session.commit()
        return article.id


def _category(app: Flask, code: str, label: str) -> int:
    with app.app_context():
        row = Code(kind="article_category", code=code, label=label)
        db.session.add(row)
        db.session.commit()
        return row.id


def _fetch(client, path: str) -> tuple[int, dict[str, str], bytes]:
    """GET a file response and close it (send_file keeps the file open until then)."""
    response = client.get(path)
    try:
        return response.status_code, dict(response.headers), response.get_data()
    finally:
        response.close()


def _upload(client, data: bytes, filename: str, mimetype: str = "application/octet-stream", path: str = NEW):
    return client.post(path, data={"csrf_token": csrf_token(client, path), "title": "書きかけの見出し",
                                   "body_markdown": "書きかけ", "upload": "1",
                                   "image": (io.BytesIO(data), filename, mimetype)},
                       content_type="multipart/form-data")


# --- sanitising --------------------------------------------------------------------------------------

ATTACKS = [
    "<script>alert(1)</script>",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](  JaVaScRiPt:alert(1))",
    "[x](java&#115;cript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](https://evil.example/track.png)",
    "![x](x\" onerror=\"alert(1))",
    "<a href=\"javascript:alert(1)\" onclick=\"alert(1)\">x</a>",
    "<div onmouseover=\"alert(1)\">x</div>",
    "<svg onload=alert(1)>",
    "<style>body{display:none}</style>",
    "[x](vbscript:msgbox(1))",
    "<object data=\"x\"></object><embed src=\"x\">",
]


@pytest.mark.parametrize("markdown_text", ATTACKS)
def test_attack_vectors_are_stripped(markdown_text):
    html = render(markdown_text).lower()
    tags = " ".join(re.findall(r"<[a-z][^>]*>", html))  # real elements only (escaped text reads &lt;…)
    for tag in ("<script", "<iframe", "<svg", "<style", "<object", "<embed", "<div"):
        assert tag not in tags
    assert not re.search(r"\son[a-z]+=", tags), html  # no event attribute on any element
    assert not re.search(r"(href|src)=\"(?!/articles/images/\d+\"|https?:|mailto:)", tags), html
    assert "javascript:" not in tags and "data:" not in tags


def test_the_sanitiser_itself_keeps_only_the_allow_list():
    """The second layer, on HTML that markdown-it would never produce."""
    html = sanitise('<p onclick="x" class="c" style="color:red">a</p><script>alert(1)</script>'
                    '<iframe src="https://x"></iframe><a href="javascript:alert(1)">l</a>'
                    '<a href="https://example.com" target="_blank">ok</a><img src="https://evil.example/x.png" '
                    'onerror="x" alt="e"><img src="/articles/images/5" alt="ours"><img src="data:image/png;base64,AA">'
                    '<h1>top</h1><span>s</span><del>d</del><form action="/x"><input name="q"></form>')
    assert "<p>a</p>" in html and "alert" not in html and "<iframe" not in html
    assert '<a rel="noopener noreferrer nofollow">l</a>' in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html
    assert '<img alt="e">' in html and '<img src="/articles/images/5" alt="ours">' in html
    assert "data:" not in html and "evil" not in html
    assert "<h1>" not in html and "<span>" not in html and "<form" not in html and "<input" not in html
    assert "<del>d</del>" in html


def test_markdown_renders_the_supported_subset():
    html = render("# 大見出し\n\n## 中見出し\n\n**太字** と *斜体* と ~~取消~~\n\n- 一\n- 二\n\n1. A\n\n"
                  "| 列1 | 列2 |\n|---|---|\n| a | b |\n\n> 引用\n\n`code`\n\n---\n\n"
                  "[リンク](https://example.com \"題\") [メール](mailto:office@example.com)\n\n"
                  "![図](/articles/images/12 \"図の題\")")
    assert "<h2>大見出し</h2>" in html and "<h3>中見出し</h3>" in html  # the page title is the h1
    assert "<strong>太字</strong>" in html and "<em>斜体</em>" in html and "<del>取消</del>" in html
    assert "<ul>" in html and "<ol>" in html and "<table>" in html and "<th>列1</th>" in html
    assert "<blockquote>" in html and "<code>code</code>" in html and "<hr>" in html
    assert '<a href="https://example.com" title="題" rel="noopener noreferrer nofollow">リンク</a>' in html
    assert 'href="mailto:office@example.com"' in html
    assert '<img src="/articles/images/12" alt="図" title="図の題">' in html


def test_raw_html_is_shown_as_text_not_markup():
    assert render("<b>太字</b>") == "<p>&lt;b&gt;太字&lt;/b&gt;</p>\n"


# --- images ------------------------------------------------------------------------------------------

def test_editor_uploads_an_image_it_is_stored_once_outside_the_web_root_and_served_by_id(
        app, make_staff, make_registrant):
    editor = _staff_client(app, make_staff)
    data = _png()
    page = _upload(editor, data, "校舎.png", "image/png")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    with app.app_context():
        image = db.session.scalars(sa.select(UploadedImage)).one()
        stored = image_path(app.instance_path, image.sha256)
        assert (image.content_type, image.width, image.height, image.filename) == ("image/png", 40, 30, "校舎.png")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0  # the article is not saved
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "article.image_upload")).one()
        assert "校舎" not in event.detail
    assert f"![説明](/articles/images/{image.id})" in text
    assert "書きかけの見出し" in text  # what was typed stays in the form
    assert stored.read_bytes() == data and Path(app.static_folder) not in stored.parents
    assert stat.S_IMODE(stored.stat().st_mode) == 0o640
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o750

    again = _upload(editor, data, "copy.png", "image/png")
    assert f"/articles/images/{image.id})" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UploadedImage)) == 1

    reader = _registrant_client(app, make_registrant)
    status, headers, body = _fetch(reader, f"/articles/images/{image.id}")
    assert status == 200 and body == data
    assert headers["Content-Type"] == "image/png"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Disposition"] == "inline"
    assert headers["Cache-Control"].startswith("private")
    assert _fetch(editor, f"/articles/images/{image.id}")[0] == 200  # staff see it in the preview
    assert _fetch(reader, f"/articles/images/{image.id + 999}")[0] == 404
    status, headers, _body = _fetch(app.test_client(), f"/articles/images/{image.id}")
    assert status == 302 and "/login" in headers["Location"]


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (9000, 5000), 0).save(out, format="PNG", optimize=True)  # 45 megapixels in a few KB
    return out.getvalue()


@pytest.mark.parametrize("data_factory, filename, mimetype, reason", [
    (lambda: _png(), "photo.jpg", "image/jpeg", "拡張子と画像の中身が一致しません"),
    (lambda: _png(fmt="GIF"), "anim.png", "image/png", "拡張子と画像の中身が一致しません"),
    (lambda: _png(), "photo.png", "image/gif", "申告されたファイルの種類"),
    (lambda: b"<?php echo 1; ?>" * 20, "shell.png", "image/png", "画像として読み取れませんでした"),
    (lambda: _png()[:60], "cut.png", "image/png", "画像として読み取れませんでした"),
    (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.svg", "image/svg+xml",
     "PNG・JPEG・GIF・WebP の画像"),
    (lambda: _png(fmt="BMP"), "x.bmp", "image/bmp", "PNG・JPEG・GIF・WebP の画像"),
    (lambda: _png(fmt="BMP"), "x.png", "image/png", "以外の画像形式"),
    (lambda: _png(), "../../etc/x.png", "image/png", "ファイル名にフォルダの区切り"),
    (lambda: _png(), "sub/x.png", "image/png", "ファイル名にフォルダの区切り"),
    # the multipart header quotes a backslash as "\\", so this arrives as C:\temp\x.png
    (lambda: _png(), "C:\\\\temp\\\\x.png", "image/png", "ファイル名にフォルダの区切り"),
    (lambda: _png(), "a..png", "image/png", "ファイル名にフォルダの区切り"),
    (lambda: _png(), "x\x07.png", "image/png", "使えない文字"),
    (lambda: _png(), "noextension", "image/png", "PNG・JPEG・GIF・WebP の画像"),
    (_bomb, "bomb.png", "image/png", "画素数が大きすぎます"),
])
def test_bad_uploads_are_refused_with_the_reason(app, make_staff, data_factory, filename, mimetype, reason):
    editor = _staff_client(app, make_staff)
    response = _upload(editor, data_factory(), filename, mimetype)
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UploadedImage)) == 0


def test_upload_without_a_file_asks_for_one(app, make_staff):
    editor = _staff_client(app, make_staff)
    response = editor.post(NEW, data={"csrf_token": csrf_token(editor, NEW), "upload": "1"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "画像ファイルを選んでください" in response.get_data(as_text=True)


class TestSizeLimits:
    @pytest.fixture
    def settings_overrides(self):
        return {"image_max_bytes": 64 * 1024, "max_request_bytes": 512 * 1024}

    def test_over_the_image_limit_is_refused_and_over_the_request_limit_gets_the_413_page(self, app, make_staff):
        editor = _staff_client(app, make_staff)
        noisy = Image.effect_noise((200, 200), 100).convert("RGB")  # noise does not compress
        out = io.BytesIO()
        noisy.save(out, format="PNG")
        assert 64 * 1024 < len(out.getvalue()) < 512 * 1024
        response = _upload(editor, out.getvalue(), "noise.png", "image/png")
        assert response.status_code == 400 and "画像が大きすぎます(64 KBまで)" in response.get_data(as_text=True)
        boundary = "tsunagu-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"huge.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + b"\0" * (2 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
        huge = editor.post(NEW, data=body, content_type=f"multipart/form-data; boundary={boundary}")
        assert huge.status_code == 413 and "送信されたデータが大きすぎます" in huge.get_data(as_text=True)
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(UploadedImage)) == 0


def test_a_viewer_cannot_upload(app, make_staff):
    viewer = _staff_client(app, make_staff, "viewer")
    response = viewer.post(NEW, data={"csrf_token": csrf_token(viewer, "/admin/articles"), "upload": "1",
                                      "image": (io.BytesIO(_png()), "x.png", "image/png")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UploadedImage)) == 0


# --- writing and publishing --------------------------------------------------------------------------

def _form(**overrides) -> dict[str, str]:
    return {"title": "復職説明会のご案内", "summary": "説明会を開きます", "category": "0",
            "body_markdown": "## 日時\n\n<script>alert(1)</script> [申込](https://example.com/apply)",
            "publication": "draft", "publish_at": "", **overrides}


def _post(client, path: str, **overrides):
    return client.post(path, data={"csrf_token": csrf_token(client, path), "submit": "1", **_form(**overrides)})


def test_preview_shows_the_sanitised_article_and_saves_nothing(app, make_staff):
    editor = _staff_client(app, make_staff)
    page = editor.post(NEW, data={"csrf_token": csrf_token(editor, NEW), "preview": "1", **_form()})
    text = page.get_data(as_text=True)
    assert "プレビュー(まだ保存されていません)" in text and "<h3>日時</h3>" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


def test_draft_scheduled_and_published_articles_as_registrants_and_staff_see_them(app, make_staff, make_registrant):
    editor = _staff_client(app, make_staff)
    category = _category(app, "rehire", "復職・採用情報")
    assert _post(editor, NEW, category=str(category)).status_code == 302
    with app.app_context():
        article = db.session.scalars(sa.select(Article)).one()
        assert article.publish_at is None and "<h3>日時</h3>" in article.body_html
        assert "<script" not in article.body_html and 'rel="noopener noreferrer nofollow"' in article.body_html
        article_id = article.id
    reader = _registrant_client(app, make_registrant)
    assert reader.get(f"/articles/{article_id}").status_code == 404
    assert "復職説明会のご案内" not in reader.get("/articles").get_data(as_text=True)
    assert "下書き" in editor.get("/admin/articles").get_data(as_text=True)

    edit = f"/admin/articles/{article_id}/edit"
    same = {"category": str(category)}
    past = _post(editor, edit, **same, publication="scheduled", publish_at=_local(utcnow() - timedelta(hours=1)))
    assert past.status_code == 200 and "現在より後の日時" in past.get_data(as_text=True)
    soon = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    assert _post(editor, edit, **same, publication="scheduled", publish_at=_local(soon)).status_code == 302
    with app.app_context():
        assert db.session.get(Article, article_id).publish_at == soon  # typed in Tokyo time, stored in UTC
    assert reader.get(f"/articles/{article_id}").status_code == 404
    assert "予約" in editor.get("/admin/articles").get_data(as_text=True)

    assert _post(editor, edit, **same, publication="published").status_code == 302
    page = reader.get(f"/articles/{article_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<h1>復職説明会のご案内</h1>" in text and "復職・採用情報" in text and "<h3>日時</h3>" in text
    assert "公開中" in editor.get("/admin/articles").get_data(as_text=True)
    with app.app_context():
        first_published = db.session.get(Article, article_id).publish_at
    assert _post(editor, edit, **same, publication="published", title="復職説明会のご案内(更新)").status_code == 302
    with app.app_context():
        assert db.session.get(Article, article_id).publish_at == first_published  # a fix keeps the date

    token = csrf_token(editor, "/admin/articles")
    assert editor.post(f"/admin/articles/{article_id}/unpublish", data={"csrf_token": token}).status_code == 302
    assert reader.get(f"/articles/{article_id}").status_code == 404
    assert editor.post(f"/admin/articles/{article_id}/publish", data={"csrf_token": token}).status_code == 302
    assert reader.get(f"/articles/{article_id}").status_code == 200
    assert editor.post(f"/admin/articles/{article_id}/delete", data={"csrf_token": token}).status_code == 302
    assert reader.get(f"/articles/{article_id}").status_code == 404
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("article.%"))).all()
        assert {"article.create", "article.update", "article.publication", "article.delete"} <= set(actions)
        details = db.session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action.like("article.%"))).all()
        assert not any("復職説明会" in (detail or "") for detail in details)


def test_missing_title_and_a_schedule_without_a_date_are_field_errors(app, make_staff):
    editor = _staff_client(app, make_staff)
    response = _post(editor, NEW, title="", publication="scheduled")
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "入力してください。" in text and "予約する公開日時を入力してください。" in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0


def test_registrant_list_is_newest_first_filtered_by_category_and_paginated(app, make_registrant):
    now = utcnow()
    rehire = _category(app, "rehire", "復職・採用情報")
    notice = _category(app, "notice", "お知らせ")
    for day in range(12):
        _article(app, f"お知らせ記事{day:02d}", now - timedelta(days=day + 1), category_id=notice)
    _article(app, "採用情報の記事", now - timedelta(hours=1), category_id=rehire)
    _article(app, "来週の記事", now + timedelta(days=7), category_id=rehire)
    reader = _registrant_client(app, make_registrant)
    first = reader.get("/articles").get_data(as_text=True)
    assert first.index("採用情報の記事") < first.index("お知らせ記事00") < first.index("お知らせ記事08")
    assert "お知らせ記事09" not in first and "来週の記事" not in first and "1 / 2 ページ" in first
    assert "お知らせ記事11" in reader.get("/articles?page=2").get_data(as_text=True)
    filtered = reader.get(f"/articles?category={rehire}").get_data(as_text=True)
    assert "採用情報の記事" in filtered and "お知らせ記事00" not in filtered
    junk = reader.get("/articles?category=abc&page=-3")
    assert junk.status_code == 200 and "分類を選び直してください" in junk.get_data(as_text=True)
    with app.app_context():
        latest = services.latest_for_portal(db.session)
        assert [a.title for a in latest] == ["採用情報の記事", "お知らせ記事00", "お知らせ記事01"]


def test_articles_are_for_logged_in_registrants(app):
    article_id = _article(app, "記事", utcnow() - timedelta(days=1))
    client = app.test_client()
    for path in ("/articles", f"/articles/{article_id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_stored_html_changes_when_the_markdown_is_saved_again(app, make_staff):
    editor = _staff_client(app, make_staff)
    assert _post(editor, NEW, body_markdown="最初の本文").status_code == 302
    with app.app_context():
        article_id = db.session.scalar(sa.select(Article.id))
    assert _post(editor, f"/admin/articles/{article_id}/edit", body_markdown="**新しい本文**").status_code == 302
    with app.app_context():
        assert db.session.get(Article, article_id).body_html == "<p><strong>新しい本文</strong></p>\n"


def test_cli_rerenders_stored_html_and_reports_missing_image_files(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from app.articles.cli import articles_cli

    article_id = _article(app, "古い記事", utcnow(), body="**太字**")
    with app.app_context():
        db.session.get(Article, article_id).body_html = "<p>old</p>"
        db.session.add(UploadedImage(sha256="f" * 64, content_type="image/png", byte_size=1, width=1, height=1,
                                     filename="gone.png"))
        db.session.commit()
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    result = runner.invoke(articles_cli, ["rerender"], obj=info)
    assert result.exit_code == 0 and "1 article(s) changed" in result.output
    with app.app_context():
        assert db.session.get(Article, article_id).body_html == "<p><strong>太字</strong></p>\n"
    result = runner.invoke(articles_cli, ["check-images"], obj=info)
    assert result.exit_code == 1 and "1 missing" in result.output
