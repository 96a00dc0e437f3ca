"""S-A16 news with publish windows and S-A14 YouTube links on the registrant top page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.audit.models import AuditEvent
from app.core.security import CONTENT_SECURITY_POLICY
from app.core.timeutil import to_tokyo, utcnow
from app.extensions import db
from app.news.models import NewsItem, VideoLink
from app.news.services import body_html, youtube_id
from tests.conftest import STRONG_PASSWORD, csrf_token, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

VIDEO = "AbC_12-xYz9"


def _editor(app: Flask, make_staff, role: str = "editor") -> object:
    client = app.test_client()
    login(client, make_staff(role).email, STRONG_PASSWORD)
    return client


def _local(moment) -> str:
    return to_tokyo(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com/watch?v={VIDEO}",
    f"https://youtube.com/watch?v={VIDEO}&t=42s",
    f"https://m.youtube.com/watch?feature=share&v={VIDEO}",
    f"https://youtu.be/{VIDEO}",
    f"https://youtu.be/{VIDEO}?si=abc",
    f"https://www.youtube.com/embed/{VIDEO}",
    f"https://www.youtube-nocookie.com/embed/{VIDEO}",
    f"https://www.youtube.com/shorts/{VIDEO}",
    f"https://www.youtube.com/live/{VIDEO}",
    f"www.youtube.com/watch?v={VIDEO}",
    f"  https://WWW.YOUTUBE.COM/watch?v={VIDEO}  ",
])
def test_youtube_url_variants_give_the_video_id(url):
    assert youtube_id(url) == VIDEO


@pytest.mark.parametrize("url", [
    f"javascript:alert('{VIDEO}')",
    f"https://www.youtube.com.evil.example/watch?v={VIDEO}",
    f"https://evil.example/watch?v={VIDEO}",
    f"https://vimeo.com/{VIDEO}",
    "https://www.youtube.com/watch?v=AbC_12-xYz",  # 10 characters
    "https://www.youtube.com/watch?v=AbC_12-xYz99",  # 12 characters
    "https://youtu.be/AbC_12-xYz",
    "https://www.youtube.com/watch?v=AbC_12-xY<9",
    f"https://www.youtube.com@evil.example/watch?v={VIDEO}",
    f"https://www.youtube.com:8443/watch?v={VIDEO}",
    f"ftp://www.youtube.com/watch?v={VIDEO}",
    f"https://www.youtube.com/watch?v={VIDEO}&v=other123456",
    f"https://www.youtube.com/embed/{VIDEO}/extra",
    f"https://www.youtube.com/{VIDEO}",
    f"data:text/html,{VIDEO}",
    "",
    "https://www.youtube.com/watch?v=" + "A" * 600,
])
def test_anything_else_is_refused(url):
    assert youtube_id(url) is None


def test_body_is_escaped_paragraphs_and_links_are_safe():
    html = str(body_html("一段落目<script>alert(1)</script>\n二行目 https://example.com/a?b=1&c=2。\n\n二段落目"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<p>") == 2 and "<br>" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener">https://example.com/a?b=1&amp;c=2</a>。' in html
    assert "<a" not in str(body_html("javascript:alert(1) data:text/html,x"))


def test_portal_shows_news_only_within_its_window_newest_first(app, client):
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            NewsItem(title="掲載前のお知らせ", body="まだ", publish_from=now + timedelta(hours=1)),
            NewsItem(title="古いお知らせ", body="古い", publish_from=now - timedelta(days=5)),
            NewsItem(title="新しいお知らせ", body="新しい\n\n<b>太字</b> https://example.com/x",
                     publish_from=now - timedelta(days=1), publish_until=now + timedelta(days=1)),
            NewsItem(title="終了したお知らせ", body="終わり", publish_from=now - timedelta(days=10),
                     publish_until=now - timedelta(minutes=1)),
        ])
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "掲載前のお知らせ" not in page and "終了したお知らせ" not in page
    assert page.index("新しいお知らせ") < page.index("古いお知らせ")
    assert "&lt;b&gt;太字&lt;/b&gt;" in page and '<a href="https://example.com/x" rel="noopener">' in page
    assert "現在、お知らせはありません。" not in page


def test_portal_without_news_shows_the_empty_state(client):
    page = client.get("/").get_data(as_text=True)
    assert "現在、お知らせはありません。" in page and "youtube" not in page


def test_editor_creates_previews_edits_and_deletes_news(app, make_staff, client):
    editor = _editor(app, make_staff)
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=5)
    form = {"title": "説明会のお知らせ", "body": "説明会を開きます。", "publish_from": _local(start),
            "publish_until": ""}
    page = editor.post("/admin/news/new", data={"csrf_token": csrf_token(editor, "/admin/news/new"), **form,
                                                "preview": "1"}).get_data(as_text=True)
    assert "プレビュー(まだ保存されていません)" in page and "説明会を開きます。" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(NewsItem)) == 0
    response = editor.post("/admin/news/new", data={"csrf_token": csrf_token(editor, "/admin/news/new"), **form,
                                                    "submit": "1"})
    assert response.status_code == 302
    with app.app_context():
        item = db.session.scalars(sa.select(NewsItem)).one()
        assert item.publish_from == start  # typed in Tokyo time, stored in UTC
        news_id = item.id
    assert "説明会のお知らせ" in client.get("/").get_data(as_text=True)
    path = f"/admin/news/{news_id}/edit"
    response = editor.post(path, data={"csrf_token": csrf_token(editor, path), **form, "title": "説明会(更新)",
                                       "submit": "1"})
    assert response.status_code == 302
    assert "説明会(更新)" in client.get("/").get_data(as_text=True)
    response = editor.post(f"/admin/news/{news_id}/delete", data={"csrf_token": csrf_token(editor, "/admin/news")})
    assert response.status_code == 302
    assert "説明会(更新)" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("news.%"))).all()
        assert sorted(actions) == ["news.create", "news.delete", "news.update"]


def test_publish_until_must_be_after_publish_from(app, make_staff):
    editor = _editor(app, make_staff)
    page = editor.post("/admin/news/new", data={
        "csrf_token": csrf_token(editor, "/admin/news/new"), "title": "t", "body": "b",
        "publish_from": "2026-05-01T10:00", "publish_until": "2026-05-01T10:00", "submit": "1"}).get_data(as_text=True)
    assert "掲載終了日時は掲載開始日時より後にしてください。" in page
    page = editor.post("/admin/news/new", data={
        "csrf_token": csrf_token(editor, "/admin/news/new"), "title": "t", "body": "b",
        "publish_from": "not-a-date", "submit": "1"}).get_data(as_text=True)
    assert "日時を入力してください。" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(NewsItem)) == 0


def test_editor_adds_a_video_and_the_portal_embeds_it_privately(app, make_staff, client):
    editor = _editor(app, make_staff)
    path = "/admin/news/videos/new"
    response = editor.post(path, data={"csrf_token": csrf_token(editor, path), "title": "学校の一日",
                                       "url": f"https://youtu.be/{VIDEO}?si=tracking", "description": "紹介",
                                       "is_published": "y"})
    assert response.status_code == 302
    with app.app_context():
        video = db.session.scalars(sa.select(VideoLink)).one()
        assert video.video_id == VIDEO
    page = client.get("/").get_data(as_text=True)
    assert f'src="https://www.youtube-nocookie.com/embed/{VIDEO}"' in page
    assert 'title="学校の一日"' in page and 'loading="lazy"' in page and "referrerpolicy=" in page
    assert f'href="https://www.youtube.com/watch?v={VIDEO}"' in page and "tracking" not in page
    assert "/static/js/videos.js" in page


def test_bad_video_urls_are_refused_with_a_japanese_message(app, make_staff):
    editor = _editor(app, make_staff)
    path = "/admin/news/videos/new"
    for url in ("javascript:alert(1)", f"https://www.youtube.com.evil.example/watch?v={VIDEO}",
                "https://www.youtube.com/watch?v=short"):
        page = editor.post(path, data={"csrf_token": csrf_token(editor, path), "title": "t", "url": url,
                                       "is_published": "y"}).get_data(as_text=True)
        assert "YouTubeの動画のURLを入力してください" in page, url
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(VideoLink)) == 0


def test_unpublished_video_is_not_shown(app, client):
    with app.app_context():
        db.session.add(VideoLink(title="非公開の動画", video_id=VIDEO, is_published=False))
        db.session.commit()
    assert "非公開の動画" not in client.get("/").get_data(as_text=True)


def test_viewer_sees_the_list_but_cannot_change_news_or_videos(app, make_staff):
    with app.app_context():
        item = NewsItem(title="既存", body="本文", publish_from=utcnow())
        video = VideoLink(title="既存の動画", video_id=VIDEO)
        db.session.add_all([item, video])
        db.session.commit()
        news_id, video_id = item.id, video.id
    viewer = _editor(app, make_staff, "viewer")
    page = viewer.get("/admin/news").get_data(as_text=True)
    assert "既存" in page and "/admin/news/new" not in page
    token = csrf_token(viewer, "/admin/")
    for path in ("/admin/news/new", f"/admin/news/{news_id}/edit", f"/admin/news/{news_id}/delete",
                 "/admin/news/videos/new", f"/admin/news/videos/{video_id}/delete"):
        assert viewer.post(path, data={"csrf_token": token, "title": "x", "body": "x"}).status_code == 403, path
    with app.app_context():
        assert db.session.get(NewsItem, news_id).title == "既存"
        assert db.session.get(VideoLink, video_id) is not None


def test_csp_allows_only_the_privacy_enhanced_youtube_frame(client):
    header = client.get("/").headers["Content-Security-Policy"]
    assert "frame-src https://www.youtube-nocookie.com" in header
    assert header == CONTENT_SECURITY_POLICY
    frame = [part.strip() for part in header.split(";") if part.strip().startswith("frame-src")]
    assert frame == ["frame-src https://www.youtube-nocookie.com"]
