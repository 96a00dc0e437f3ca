"""Inquiries (問い合わせ) sent by registrants from the portal; the text itself lives in correspondence history."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class InquiryStatus(enum.StrEnum):
    OPEN = "open"  # 未対応
    ANSWERED = "answered"  # 回答済み
    CLOSED = "closed"  # 完了


class Inquiry(db.Model):
    __tablename__ = "inquiry"
    __table_args__ = (
        sa.Index("ix_inquiry_status_received", "status", "received_at"),
        {"comment": "登録者からの問い合わせ(本文は対応履歴 correspondence に記録)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), index=True, comment="問い合わせた登録者のID")
    correspondence_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("correspondence.id", ondelete="SET NULL"), comment="問い合わせ本文を記録した対応履歴のID")
    reply_correspondence_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("correspondence.id", ondelete="SET NULL"), comment="職員の回答を記録した対応履歴のID")
    status: Mapped[str] = mapped_column(
        sa.String(16), default=InquiryStatus.OPEN, comment="状態(open=未対応 / answered=回答済み / closed=完了)")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, comment="受け付けた日時(UTC)")
    answered_at: Mapped[datetime | None] = mapped_column(comment="回答した日時(UTC)")
    answered_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="回答した職員のID")
