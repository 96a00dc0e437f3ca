"""Exchange events (交流イベント) with capacity, RSVP, waitlist, reminders and attendance."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class RsvpStatus(enum.StrEnum):
    GOING = "going"  # 参加
    WAITLIST = "waitlist"  # キャンセル待ち
    CANCELLED = "cancelled"  # 取消


class Event(db.Model):
    __tablename__ = "event"
    __table_args__ = {"comment": "交流イベント(日時・場所またはオンラインURL・定員)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="イベント名")
    description: Mapped[str] = mapped_column(sa.Text, comment="説明(プレーンテキスト、4000文字以内)")
    starts_at: Mapped[datetime] = mapped_column(index=True, comment="開始日時(UTC)")
    ends_at: Mapped[datetime | None] = mapped_column(comment="終了日時(UTC)")
    place: Mapped[str | None] = mapped_column(sa.String(200), comment="会場")
    online_url: Mapped[str | None] = mapped_column(sa.String(500), comment="オンライン参加のURL(https のみ)")
    capacity: Mapped[int | None] = mapped_column(comment="定員(NULLは定員なし)")
    rsvp_closes_at: Mapped[datetime | None] = mapped_column(comment="申込の締切日時(UTC)。NULLは開始まで")
    published_at: Mapped[datetime | None] = mapped_column(comment="公開した日時(UTC)。NULLは下書き")
    cancelled_at: Mapped[datetime | None] = mapped_column(comment="中止した日時(UTC)")
    reminder_sent_at: Mapped[datetime | None] = mapped_column(comment="前日のリマインドメールを送った日時(UTC)")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")


class EventRsvp(db.Model):
    __tablename__ = "event_rsvp"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "registrant_id", name="uq_event_rsvp_event_registrant"),
        sa.Index("ix_event_rsvp_event_status", "event_id", "status", "responded_at"),
        sa.Index("ix_event_rsvp_registrant", "registrant_id"),
        {"comment": "イベントへの申込(登録者ごとに1行。参加・キャンセル待ち・取消と出欠)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), comment="イベントID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), comment="登録者ID")
    status: Mapped[str] = mapped_column(
        sa.String(16), comment="状態(going=参加 / waitlist=キャンセル待ち / cancelled=取消)")
    responded_at: Mapped[datetime] = mapped_column(
        default=utcnow, comment="申込日時(UTC)。キャンセル待ちはこの順に繰り上がる")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, comment="状態を最後に変えた日時(UTC)")
    reminded_at: Mapped[datetime | None] = mapped_column(comment="リマインドメールを送った日時(UTC)")
    attended: Mapped[bool | None] = mapped_column(comment="出欠(真=出席 / 偽=欠席 / NULL=未記録)")
