"""A registrant search saved by name: its criteria, the columns shown and the sort order."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class SavedSearch(db.Model):
    __tablename__ = "saved_search"
    __table_args__ = (
        sa.UniqueConstraint("owner_id", "name", name="uq_saved_search_owner_name"),
        {"comment": "保存した登録者検索(条件・表示列・並び順)。共有すると他の職員も使える"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    name: Mapped[str] = mapped_column(sa.String(100), comment="検索の名前(職員ごとに一意)")
    owner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True, comment="保存した職員のID")
    is_shared: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false(), comment="他の職員と共有するか")
    criteria: Mapped[str] = mapped_column(sa.Text, comment="検索条件(JSON。否定条件を含む)")
    columns: Mapped[str] = mapped_column(sa.String(500), comment="表示・出力する列(カンマ区切り、画面の順)")
    sort: Mapped[str] = mapped_column(sa.String(40), comment="並び順(列名、降順は先頭に -)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")
