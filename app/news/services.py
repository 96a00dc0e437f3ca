"""News items with publish windows (S-A16) and YouTube links (S-A14).

A YouTube URL is checked strictly (known hosts, known path shapes, an 11-character id) and only the id
is stored; pages build the embed and watch URLs from the id, so no pasted URL ever reaches a page.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import utcnow
from app.news.models import NewsItem, VideoLink

BODY_MAX = 4000
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtube-nocookie.com",
                           "www.youtube-nocookie.com"})
SHORT_HOST = "youtu.be"
_ID_PATH = re.compile(r"/(?:embed|shorts|live|v)/([^/]+)/?")
EMBED_BASE = "https://www.youtube-nocookie.com/embed/"
WATCH_BASE = "https://www.youtube.com/watch?v="


# --- YouTube --------------------------------------------------------------------------------------

def youtube_id(url: str | None) -> str | None:
    """The video id of a YouTube URL (watch, youtu.be, embed, shorts, live; www/m/no-cookie hosts), or None."""
    text = (url or "").strip()
    if not text or len(text) > 500 or re.search(r"[\s\x00-\x1f\x7f\\]", text):
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in {"https", "http"} or parts.username or parts.password or port not in {None, 80, 443}:
        return None
    candidate = None
    if host == SHORT_HOST:
        candidate = parts.path[1:].rstrip("/") if parts.path.startswith("/") else None
    elif host in YOUTUBE_HOSTS:
        if parts.path.rstrip("/") == "/watch":
            values = parse_qs(parts.query).get("v", [])
            candidate = values[0] if len(values) == 1 else None
        else:
            match = _ID_PATH.fullmatch(parts.path)
            candidate = match.group(1) if match else None
    return candidate if candidate and VIDEO_ID.fullmatch(candidate) else None


def embed_url(video_id: str) -> str:
    return EMBED_BASE + video_id


def watch_url(video_id: str) -> str:
    return WATCH_BASE + video_id


# --- what the registrant top page shows -------------------------------------------------------------

def published_news(session: Session, now: datetime | None = None, limit: int = 20) -> list[NewsItem]:
    """News whose publish window includes `now` (from inclusive, until exclusive), newest first."""
    now = now or utcnow()
    stmt = (sa.select(NewsItem)
            .where(NewsItem.publish_from <= now,
                   sa.or_(NewsItem.publish_until.is_(None), NewsItem.publish_until > now))
            .order_by(NewsItem.publish_from.desc(), NewsItem.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def published_videos(session: Session) -> list[VideoLink]:
    return list(session.scalars(sa.select(VideoLink).where(VideoLink.is_published.is_(True))
                                .order_by(VideoLink.sort_order, VideoLink.id)))


def window_state(item: NewsItem, now: datetime | None = None) -> str:
    now = now or utcnow()
    if item.publish_from > now:
        return "scheduled"
    if item.publish_until is not None and item.publish_until <= now:
        return "ended"
    return "published"


_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_TRAILING = ".,:;!?)]'"


def body_html(text: str) -> Markup:
    """Plain text as HTML: escaped, blank lines start paragraphs, line breaks kept, http(s) URLs linked."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip()) if p]
    out = []
    for paragraph in paragraphs:
        lines = [_linked(line) for line in paragraph.split("\n")]
        out.append(Markup("<p>") + Markup("<br>").join(lines) + Markup("</p>"))
    return Markup("").join(out)


def _linked(line: str) -> Markup:
    pieces: list[Any] = []
    position = 0
    for match in _URL.finditer(line):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        pieces.append(escape(line[position:match.start()]))
        pieces.append(Markup('<a href="{0}" rel="noopener">{0}</a>').format(url))
        position = end
    pieces.append(escape(line[position:]))
    return Markup("").join(pieces)


# --- maintenance (each change audited, committed) ---------------------------------------------------

NEWS_FIELDS = ("title", "body", "publish_from", "publish_until")
VIDEO_FIELDS = ("title", "video_id", "description", "is_published")


def save_news(session: Session, actor: Any, item: NewsItem | None, values: dict[str, Any],
              ip: str | None = None) -> NewsItem:
    created = item is None
    if item is None:
        item = NewsItem(created_by_id=actor.id)
        session.add(item)
    changed = [name for name in NEWS_FIELDS if getattr(item, name) != values[name]]
    for name in NEWS_FIELDS:
        setattr(item, name, values[name])
    session.flush()
    if created or changed:
        audit.record(session, actor, "news.create" if created else "news.update", f"news:{item.id}",
                     {"changed": changed}, ip)
    session.commit()
    return item


def delete_news(session: Session, actor: Any, item: NewsItem, ip: str | None = None) -> None:
    audit.record(session, actor, "news.delete", f"news:{item.id}", {}, ip)
    session.delete(item)
    session.commit()


def save_video(session: Session, actor: Any, video: VideoLink | None, values: dict[str, Any],
               ip: str | None = None) -> VideoLink:
    created = video is None
    if video is None:
        last = session.scalar(sa.select(sa.func.max(VideoLink.sort_order))) or 0
        video = VideoLink(sort_order=last + 10)
        session.add(video)
    changed = [name for name in VIDEO_FIELDS if getattr(video, name) != values[name]]
    for name in VIDEO_FIELDS:
        setattr(video, name, values[name])
    session.flush()
    if created or changed:
        audit.record(session, actor, "video.create" if created else "video.update", f"video:{video.id}",
                     {"changed": changed, "video_id": video.video_id}, ip)
    session.commit()
    return video


def delete_video(session: Session, actor: Any, video: VideoLink, ip: str | None = None) -> None:
    audit.record(session, actor, "video.delete", f"video:{video.id}", {"video_id": video.video_id}, ip)
    session.delete(video)
    session.commit()
