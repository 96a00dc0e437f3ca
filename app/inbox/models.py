"""Bulk messages (一斉メッセージ) delivered to the in-app inbox, and by e-mail to those who consented."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class Message(db.Model):
    __tablename__ = "message"
    __table_args__ = {"comment": "一斉メッセージ(アプリ内の受信箱に届け、同意者にはメールでも送る)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    subject: Mapped[str] = mapped_column(sa.String(200), comment="件名")
    body: Mapped[str] = mapped_column(sa.Text, comment="本文(プレーンテキスト、4000文字以内)")
    audience: Mapped[str] = mapped_column(
        sa.String(16), comment="対象(all_active=有効な登録者全員 / saved_search=保存した検索 / direct=1名)")
    saved_search_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("saved_search.id", ondelete="SET NULL"), comment="対象を決めた保存した検索のID")
    send_email: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="メール受信に同意した人にメールでも送るか")
    mail_campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("mail_campaign.id", ondelete="SET NULL"), comment="メールで送った送信(mail_campaign)のID")
    recipient_count: Mapped[int] = mapped_column(default=0, server_default="0", comment="受信箱に届けた人数")
    sent_at: Mapped[datetime | None] = mapped_column(index=True, comment="届けた日時(UTC)。NULLは下書き")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")


class MessageRecipient(db.Model):
    __tablename__ = "message_recipient"
    __table_args__ = (
        sa.Index("ix_message_recipient_registrant_read", "registrant_id", "read_at"),
        {"comment": "一斉メッセージの宛先と既読状態(登録者ごとに1行)"},
    )

    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("message.id", ondelete="CASCADE"), primary_key=True, comment="メッセージID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), primary_key=True, comment="登録者ID")
    emailed: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false(), comment="メールでも送ったか(同意・配信停止を反映)")
    read_at: Mapped[datetime | None] = mapped_column(comment="受信箱で最初に開いた日時(UTC)。NULLは未読")
