"""Saved column mappings (one per application-form version) and uploaded files awaiting commit."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class ImportMapping(db.Model):
    __tablename__ = "import_mapping"
    __table_args__ = {"comment": "CSV取込の列対応(申請様式の版ごと)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    name: Mapped[str] = mapped_column(sa.String(100), unique=True, comment="名称(例: 令和8年度 申請様式)")
    columns: Mapped[str] = mapped_column(sa.Text, comment="CSVの列名→登録者項目の対応(JSON)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")


class ImportBatch(db.Model):
    """An uploaded CSV: previewed first, then committed whole or not at all."""

    __tablename__ = "import_batch"
    __table_args__ = {"comment": "アップロードされたCSV(プレビュー後に一括で取込または破棄)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    filename: Mapped[str] = mapped_column(sa.String(200), comment="元のファイル名")
    sha256: Mapped[str] = mapped_column(sa.String(64), comment="ファイルのSHA-256")
    encoding: Mapped[str] = mapped_column(sa.String(16), comment="判定した文字コード(utf-8 / utf-8-sig / cp932)")
    content: Mapped[str] = mapped_column(LongText, comment="デコード済みのCSV本文(取込確定まで保持)")
    mapping_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("import_mapping.id", ondelete="SET NULL"), comment="使用した列対応"
    )
    row_count: Mapped[int] = mapped_column(default=0, server_default="0", comment="データ行数")
    error_count: Mapped[int] = mapped_column(default=0, server_default="0", comment="エラーのある行数")
    status: Mapped[str] = mapped_column(
        sa.String(12), comment="状態(previewed=確認中 / committed=取込済 / discarded=破棄)"
    )
    created_by: Mapped[int | None] = mapped_column(comment="アップロードした職員ID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="アップロード日時(UTC)")
    committed_at: Mapped[datetime | None] = mapped_column(comment="取込確定日時(UTC)")
    run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sync_run.id", ondelete="SET NULL"), comment="取込確定時の実行履歴"
    )
