"""The text of the printable pamphlet (案内チラシ); every save is a new row, the newest is shown."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class PamphletText(db.Model):
    __tablename__ = "pamphlet_text"
    __table_args__ = {"comment": "登録案内チラシの文面(保存ごとに1行。最新の行を印刷に使う)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="見出し")
    lead: Mapped[str] = mapped_column(sa.Text, comment="導入文(1000文字以内)")
    benefits: Mapped[str] = mapped_column(sa.Text, comment="登録のメリット(1行に1項目、10項目まで)")
    closing: Mapped[str | None] = mapped_column(sa.Text, comment="結び・問い合わせ先(1000文字以内)")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="保存した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="保存日時(UTC)")
