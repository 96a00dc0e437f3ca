"""The outbox: a mail is a row first, sent later by a worker, so a request never waits on SMTP."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry


class OutboxMessage(db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index("ix_outbox_message_due", "status", "not_before"),
        {"comment": "送信待ち・送信済みメール(アウトボックス)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    category: Mapped[str] = mapped_column(sa.String(32), comment="種類(invitation / password_reset / renewal など)")
    registrant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="SET NULL"), index=True, comment="宛先の登録者ID(職員宛てはNULL)"
    )
    to_address: Mapped[str] = mapped_column(sa.String(254), comment="宛先メールアドレス")
    subject: Mapped[str] = mapped_column(sa.String(200), comment="件名")
    body_text: Mapped[str] = mapped_column(sa.Text, comment="本文(プレーンテキスト)")
    status: Mapped[str] = mapped_column(
        sa.String(12), default=OutboxStatus.PENDING.value, server_default=OutboxStatus.PENDING.value,
        comment="状態(pending=送信待ち / sending=送信中 / sent=送信済 / failed=送信失敗)",
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0", comment="送信を試みた回数")
    not_before: Mapped[datetime] = mapped_column(default=utcnow, comment="この日時以降に送信する(UTC)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    sent_at: Mapped[datetime | None] = mapped_column(comment="送信完了日時(UTC)")
    last_error: Mapped[str | None] = mapped_column(sa.String(500), comment="直近の送信エラー")
    message_id: Mapped[str | None] = mapped_column(sa.String(200), comment="送信したメールのMessage-ID")
