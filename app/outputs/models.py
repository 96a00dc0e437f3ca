"""One row per mail send or produced file: who, when, what, the filter used, rows and SHA-256."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class OutputKind(enum.StrEnum):
    MAIL = "mail"  # one send (campaign) to its recipients
    CSV = "csv"
    XLSX = "xlsx"
    FORM = "form"  # an application form (採用志願書) for one registrant
    REPORT = "report"


class OutputRecord(db.Model):
    __tablename__ = "output_record"
    __table_args__ = {"comment": "出力履歴(メール送信・CSV・Excel・様式・帳票の出力ごとに1行)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    kind: Mapped[str] = mapped_column(sa.String(12), index=True,
                                      comment="種類(mail / csv / xlsx / form / report)")
    title: Mapped[str] = mapped_column(sa.String(200), comment="何を出力したか(例: 登録者一覧、採用志願書)")
    staff_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), index=True, comment="出力した職員のID")
    staff_name: Mapped[str] = mapped_column(sa.String(120), comment="出力した職員の表示名(出力時点)")
    filter_description: Mapped[str] = mapped_column(
        sa.Text, comment="使った検索条件・対象(JSON。個人名は含めない)")
    row_count: Mapped[int] = mapped_column(comment="行数(メールは宛先数)")
    filename: Mapped[str | None] = mapped_column(sa.String(200), comment="ファイル名(メールはNULL)")
    sha256: Mapped[str | None] = mapped_column(sa.String(64), comment="出力したファイルのSHA-256(メールは宛先一覧のハッシュ)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True, comment="出力日時(UTC)")
