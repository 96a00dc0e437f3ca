"""First-party usage records: one small row per page view, and the daily summaries the dashboard reads."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

# SQLite only auto-numbers INTEGER PRIMARY KEY; MariaDB gets a BIGINT for a table that grows by millions
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class PageView(db.Model):
    __tablename__ = "page_view"
    __table_args__ = (
        sa.Index("ix_page_view_viewed", "viewed_at", "endpoint", "subject_id", "registrant_id"),
        {"comment": "ページ閲覧の記録(自サイト内のみ。URL・IPアドレスは残さない)"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, comment="内部ID")
    viewed_at: Mapped[datetime] = mapped_column(comment="閲覧日時(UTC)")
    endpoint: Mapped[str] = mapped_column(
        sa.String(64), comment="画面の種類(Flaskのエンドポイント名。ログインは auth.login)")
    subject_id: Mapped[int | None] = mapped_column(comment="画面が表示した対象のID(記事IDなど)")
    registrant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="SET NULL"), index=True,
        comment="閲覧した登録者のID(未ログインはNULL)")


class PageViewDaily(db.Model):
    __tablename__ = "page_view_daily"
    __table_args__ = {"comment": "ページ閲覧の日別集計(日本時間の1日ごと。endpoint='*' の行はその日の集計済みの印と合計)"}

    day: Mapped[date] = mapped_column(primary_key=True, comment="日付(日本時間)")
    endpoint: Mapped[str] = mapped_column(sa.String(64), primary_key=True, comment="画面の種類('*' は全画面の合計)")
    subject_id: Mapped[int] = mapped_column(primary_key=True, comment="対象のID(なしは0)")
    views: Mapped[int] = mapped_column(comment="閲覧数")
    visitors: Mapped[int] = mapped_column(comment="閲覧したログイン中の登録者の数(重複なし)")


class ActiveDay(db.Model):
    __tablename__ = "active_day"
    __table_args__ = (
        sa.Index("ix_active_day_registrant", "registrant_id"),
        {"comment": "登録者が利用した日(日本時間の1日に1行。週・月のアクティブ数の集計用)"},
    )

    day: Mapped[date] = mapped_column(primary_key=True, comment="日付(日本時間)")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), primary_key=True, comment="登録者ID")
