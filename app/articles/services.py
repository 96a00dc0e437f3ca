"""Articles: draft, scheduled or published by `publish_at`; the HTML is rendered and sanitised at save time.

publish_at NULL = draft (下書き), in the future = scheduled (予約), now or past = published (公開中).
Registrants only ever see published articles; staff see all. Every change is audited (ids and field
names only, never the text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.articles import markdown
from app.articles.models import Article, UploadedImage
from app.codes.models import Code, CodeKind
from app.core.pagination import Page, paginate
from app.core.timeutil import utcnow

TITLE_MAX = 200
SUMMARY_MAX = 300
BODY_MAX = 20000
PORTAL_PAGE_SIZE = 10
ADMIN_PAGE_SIZE = 30
RECENT_IMAGES = 12

DRAFT, SCHEDULED, PUBLISHED = "draft", "scheduled", "published"
STATE_LABELS = {DRAFT: _l("下書き"), SCHEDULED: _l("予約"), PUBLISHED: _l("公開中")}
FIELDS = ("title", "summary", "body_markdown", "category_id", "publish_at")


class ArticleError(ValueError):
    """A change that cannot be made; the message is shown to the user."""


def state_of(article: Article, now: datetime | None = None) -> str:
    if article.publish_at is None:
        return DRAFT
    return SCHEDULED if article.publish_at > (now or utcnow()) else PUBLISHED


def is_published(now: datetime | None = None) -> Any:
    """SQL condition: the article is out (published and its time has come)."""
    return sa.and_(Article.publish_at.is_not(None), Article.publish_at <= (now or utcnow()))


# --- what registrants see ----------------------------------------------------------------------------

def published_statement(category_id: int | None = None, now: datetime | None = None) -> sa.Select[Any]:
    stmt = sa.select(Article).where(is_published(now))
    if category_id:
        stmt = stmt.where(Article.category_id == category_id)
    return stmt.order_by(Article.publish_at.desc(), Article.id.desc())


def published_page(session: Session, category_id: int | None, page: int) -> Page:
    return paginate(session, published_statement(category_id), page, PORTAL_PAGE_SIZE)


def published_article(session: Session, article_id: int) -> Article | None:
    """The article if a registrant may read it now; None for drafts, scheduled and unknown ids."""
    return session.scalars(sa.select(Article).where(Article.id == article_id, is_published())).first()


def latest_for_portal(session: Session, limit: int = 3) -> list[Article]:
    """The newest published articles, for the registrant top page."""
    return list(session.scalars(published_statement().limit(limit)))


def portal_categories(session: Session) -> list[Code]:
    """Categories that have at least one published article, in master order."""
    used = sa.select(Article.category_id).where(is_published(), Article.category_id.is_not(None))
    return list(session.scalars(sa.select(Code).where(Code.kind == CodeKind.ARTICLE_CATEGORY.value,
                                                      Code.id.in_(used)).order_by(Code.sort_order, Code.id)))


# --- staff list --------------------------------------------------------------------------------------

def admin_statement(state: str = "") -> sa.Select[Any]:
    now = utcnow()
    stmt = sa.select(Article)
    if state == DRAFT:
        stmt = stmt.where(Article.publish_at.is_(None))
    elif state == SCHEDULED:
        stmt = stmt.where(Article.publish_at > now)
    elif state == PUBLISHED:
        stmt = stmt.where(is_published(now))
    # drafts first (NULL publish_at), then newest publication first
    return stmt.order_by(Article.publish_at.is_(None).desc(), Article.publish_at.desc(), Article.id.desc())


def recent_images(session: Session, limit: int = RECENT_IMAGES) -> list[UploadedImage]:
    return list(session.scalars(sa.select(UploadedImage).order_by(UploadedImage.id.desc()).limit(limit)))


def category_exists(session: Session, category_id: int) -> bool:
    return bool(session.scalar(sa.select(sa.func.count()).select_from(Code).where(
        Code.id == category_id, Code.kind == CodeKind.ARTICLE_CATEGORY.value)))


# --- changes (audited; caller commits) ---------------------------------------------------------------

def _check(values: dict[str, Any]) -> None:
    if not (values.get("title") or "").strip():
        raise ArticleError(str(_l("見出しを入力してください。")))
    if len(values["title"]) > TITLE_MAX:
        raise ArticleError(str(_l("見出しは%(max)d文字以内で入力してください。", max=TITLE_MAX)))
    if len(values.get("summary") or "") > SUMMARY_MAX:
        raise ArticleError(str(_l("要約は%(max)d文字以内で入力してください。", max=SUMMARY_MAX)))
    if len(values.get("body_markdown") or "") > BODY_MAX:
        raise ArticleError(str(_l("本文は%(max)d文字以内で入力してください。", max=BODY_MAX)))


def save_article(session: Session, actor: Any, article: Article | None, values: dict[str, Any],
                 ip: str | None = None) -> Article:
    """Create or update an article from `values` (title, summary, body_markdown, category_id, publish_at);
    body_html is rendered here. Caller commits."""
    _check(values)
    created = article is None
    if article is None:
        article = Article(created_by_id=getattr(actor, "id", None))
        session.add(article)
    changed = [name for name in FIELDS if getattr(article, name) != values.get(name)]
    for name in FIELDS:
        setattr(article, name, values.get(name))
    article.summary = article.summary or None
    article.body_html = markdown.render(article.body_markdown or "")
    session.flush()
    if created or changed:
        audit.record(session, actor, "article.create" if created else "article.update", f"article:{article.id}",
                     {"changed": changed, "state": state_of(article)}, ip)
    return article


def set_publication(session: Session, actor: Any, article: Article, publish_at: datetime | None,
                    ip: str | None = None) -> None:
    """Publish now or at a time (UTC), or back to draft (None). Caller commits."""
    article.publish_at = publish_at
    session.flush()
    audit.record(session, actor, "article.publication", f"article:{article.id}", {"state": state_of(article)}, ip)


def delete_article(session: Session, actor: Any, article: Article, ip: str | None = None) -> None:
    audit.record(session, actor, "article.delete", f"article:{article.id}", {"state": state_of(article)}, ip)
    session.delete(article)


def rerender_all(session: Session) -> int:
    """Render every article's HTML again (after the sanitiser's rules changed). Caller commits."""
    count = 0
    for article in session.scalars(sa.select(Article)):
        html = markdown.render(article.body_markdown or "")
        if html != article.body_html:
            article.body_html = html
            count += 1
    return count
