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
        sa.Index("ix_outbox_message_sent_at", "sent_at"),
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
    message_id: Mapped[str | None] = mapped_column(
        sa.String(200), index=True, comment="Message-ID(作成時に決め、再送しても同じ)")
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("mail_campaign.id", ondelete="SET NULL"), index=True, comment="一斉送信のID(個別の案内メールはNULL)")
    bounced_at: Mapped[datetime | None] = mapped_column(comment="不達通知(バウンス)を受け取った日時(UTC)")
    bounce_status: Mapped[str | None] = mapped_column(
        sa.String(200), comment="不達通知の内容(例: 5.1.1 hard / 4.2.2 soft と診断メッセージ)")


class CampaignStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # recipients are queued with not_before = scheduled time
    QUEUED = "queued"
    CANCELLED = "cancelled"


class MailCampaign(db.Model):
    """One send composed by staff (to one registrant, a selection or a saved search): one send-history entry."""

    __tablename__ = "mail_campaign"
    __table_args__ = {"comment": "職員が作成したメール送信(1回の送信=送信履歴の1件)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    subject_template: Mapped[str] = mapped_column(sa.String(200), comment="件名のテンプレート(差し込み項目つき)")
    body_template: Mapped[str] = mapped_column(sa.Text, comment="本文のテンプレート(差し込み項目つき)")
    audience: Mapped[str] = mapped_column(sa.Text, comment="宛先の選び方(JSON: 個人・選択・保存した検索と条件)")
    recipient_count: Mapped[int] = mapped_column(default=0, server_default="0", comment="送信待ちにした宛先数")
    skipped_count: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="除外した宛先数(同意なし・配信停止・不達で停止中)")
    status: Mapped[str] = mapped_column(sa.String(12), comment="状態(scheduled=予約 / queued=送信待ち / cancelled=取消)")
    scheduled_at: Mapped[datetime] = mapped_column(comment="送信開始日時(UTC)")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True, comment="作成した職員のID")
    created_by_name: Mapped[str] = mapped_column(sa.String(120), comment="作成した職員の表示名(作成時点)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True, comment="作成日時(UTC)")


class MailTemplate(db.Model):
    __tablename__ = "mail_template"
    __table_args__ = {"comment": "メールのひな形(件名・本文に差し込み項目を使える)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    name: Mapped[str] = mapped_column(sa.String(100), unique=True, comment="ひな形の名前")
    subject: Mapped[str] = mapped_column(sa.String(200), comment="件名")
    body: Mapped[str] = mapped_column(sa.Text, comment="本文")
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="最後に更新した職員のID")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")


class MailSuppression(db.Model):
    """An address no mail goes to: a hard bounce, or the registrant's own unsubscribe."""

    __tablename__ = "mail_suppression"
    __table_args__ = {"comment": "送信停止アドレス(恒久的な不達・本人の配信停止)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    address: Mapped[str] = mapped_column(sa.String(254), unique=True, comment="送信しないメールアドレス(小文字)")
    reason: Mapped[str] = mapped_column(sa.String(20), comment="理由(hard_bounce=恒久的な不達 / unsubscribe=配信停止)")
    detail: Mapped[str | None] = mapped_column(sa.String(200), comment="詳細(不達通知の状態コードなど)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="登録日時(UTC)")
