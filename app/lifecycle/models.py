"""Which lifecycle notice each registrant has been sent, so a reminder never goes out twice."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class LifecycleNotice(db.Model):
    """One row per (registrant, notice, fiscal year): written in the same transaction as the queued mail.

    The unique key also serves lookups by registrant (its first column), so there is no separate index.
    """

    __tablename__ = "lifecycle_notice"
    __table_args__ = (
        sa.UniqueConstraint("registrant_id", "kind", "fiscal_year", name="uq_lifecycle_notice_registrant_kind_year"),
        {"comment": "年度更新の案内メールの送信記録(同じ案内を二度送らないため)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), comment="登録者ID"
    )
    kind: Mapped[str] = mapped_column(
        sa.String(32), comment="案内の種類(renewal_reminder_MM-DD = 設定した案内日ごとの更新案内)"
    )
    fiscal_year: Mapped[int] = mapped_column(comment="対象の年度(4月始まり、開始年の西暦)")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow, comment="送信キューに入れた日時(UTC)")
