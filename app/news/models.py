"""News items shown on the registrant top page within their publish window, and linked YouTube videos."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class NewsItem(db.Model):
    __tablename__ = "news_item"
    __table_args__ = (
        sa.Index("ix_news_item_window", "publish_from", "publish_until"),
        {"comment": "お知らせ(登録者トップページに掲載期間中だけ表示)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="見出し")
    body: Mapped[str] = mapped_column(sa.Text, comment="本文(プレーンテキスト、4000文字以内)")
    publish_from: Mapped[datetime] = mapped_column(comment="掲載開始日時(UTC)")
    publish_until: Mapped[datetime | None] = mapped_column(comment="掲載終了日時(UTC)。NULLは終了なし")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")


class VideoLink(db.Model):
    __tablename__ = "video_link"
    __table_args__ = {"comment": "YouTube動画へのリンク(URLは検証して動画IDだけを保存)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="動画のタイトル")
    video_id: Mapped[str] = mapped_column(sa.String(11), comment="YouTubeの動画ID(11文字)")
    description: Mapped[str | None] = mapped_column(sa.String(500), comment="説明")
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0", comment="表示順")
    is_published: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="登録者ページに表示するか")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
