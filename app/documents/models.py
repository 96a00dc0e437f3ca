"""Excel templates the prefecture uploads for its forms; the newest active one is used."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db

TEMPLATE_MAX_BYTES = 5 * 1024 * 1024
Blob = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


class FormTemplate(db.Model):
    __tablename__ = "form_template"
    __table_args__ = {"comment": "様式(採用志願書など)のExcelテンプレート。セルは名前の定義で探す"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    form_kind: Mapped[str] = mapped_column(sa.String(32), index=True, comment="様式の種類(application=採用志願書)")
    filename: Mapped[str] = mapped_column(sa.String(200), comment="アップロードされたファイル名")
    content: Mapped[bytes] = mapped_column(Blob, comment="テンプレートの.xlsxファイル(マクロなし)")
    sha256: Mapped[str] = mapped_column(sa.String(64), comment="ファイルのSHA-256")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="アップロードした職員のID")
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow, comment="アップロード日時(UTC)")
    is_active: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="使用中か(種類ごとに最新の1件のみ真)")
