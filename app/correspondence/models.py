"""Correspondence history (対応履歴): what staff and a registrant said to each other, and every earlier version."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db

BODY_MAX = 4000
SUBJECT_MAX = 200
OUTCOME_MAX = 200


class Correspondence(db.Model):
    __tablename__ = "correspondence"
    __table_args__ = (
        sa.Index("ix_correspondence_registrant_occurred", "registrant_id", "occurred_at"),
        {"comment": "対応履歴(職員と登録者のやり取りの記録。編集前の内容は correspondence_revision に残る)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), comment="登録者ID")
    occurred_at: Mapped[datetime] = mapped_column(index=True, comment="対応日時(UTC)")
    channel_id: Mapped[int] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), comment="手段(コードマスタ correspondence_channel)")
    staff_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True, comment="対応した職員のID")
    staff_name: Mapped[str] = mapped_column(sa.String(120), comment="対応した職員の表示名(記録時点)")
    subject: Mapped[str] = mapped_column(sa.String(SUBJECT_MAX), comment="件名")
    body: Mapped[str] = mapped_column(sa.Text, comment="対応内容(4000文字以内)")
    outcome: Mapped[str | None] = mapped_column(sa.String(OUTCOME_MAX), comment="結果(短い記述)")
    follow_up_on: Mapped[date | None] = mapped_column(index=True, comment="次回対応予定日")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, comment="最終更新日時(UTC)")

    channel: Mapped[Code] = relationship(foreign_keys=[channel_id])
    registrant: Mapped[object] = relationship("Registrant")
    revisions: Mapped[list[CorrespondenceRevision]] = relationship(
        back_populates="correspondence", order_by="CorrespondenceRevision.id.desc()", cascade="all, delete-orphan",
        passive_deletes=True)


class CorrespondenceRevision(db.Model):
    __tablename__ = "correspondence_revision"
    __table_args__ = {"comment": "対応履歴の編集前の版(編集のたびに直前の内容と、編集した職員・日時を1行残す)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    correspondence_id: Mapped[int] = mapped_column(
        sa.ForeignKey("correspondence.id", ondelete="CASCADE"), index=True, comment="対応履歴ID")
    occurred_at: Mapped[datetime] = mapped_column(comment="編集前の対応日時(UTC)")
    channel_id: Mapped[int] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), comment="編集前の手段(コードID)")
    staff_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="編集前の対応職員ID")
    staff_name: Mapped[str] = mapped_column(sa.String(120), comment="編集前の対応職員の表示名")
    subject: Mapped[str] = mapped_column(sa.String(SUBJECT_MAX), comment="編集前の件名")
    body: Mapped[str] = mapped_column(sa.Text, comment="編集前の対応内容")
    outcome: Mapped[str | None] = mapped_column(sa.String(OUTCOME_MAX), comment="編集前の結果")
    follow_up_on: Mapped[date | None] = mapped_column(comment="編集前の次回対応予定日")
    edited_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="編集した職員のID")
    edited_by_name: Mapped[str] = mapped_column(sa.String(120), comment="編集した職員の表示名(編集時点)")
    edited_at: Mapped[datetime] = mapped_column(default=utcnow, comment="編集日時(UTC)。この版が置き換えられた日時")

    correspondence: Mapped[Correspondence] = relationship(back_populates="revisions")
    channel: Mapped[Code] = relationship(foreign_keys=[channel_id])
