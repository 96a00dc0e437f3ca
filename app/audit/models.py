"""The audit history: append-only rows chained by hash."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = {"comment": "監査履歴(追記のみ。各行が直前の行のハッシュを持つ改ざん検知チェーン)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    seq: Mapped[int] = mapped_column(unique=True, comment="通し番号(1から欠番なし)")
    occurred_at: Mapped[datetime] = mapped_column(index=True, comment="発生日時(UTC、秒単位)")
    actor_kind: Mapped[str] = mapped_column(sa.String(16), comment="操作者種別(staff / registrant / system)")
    actor_id: Mapped[int | None] = mapped_column(comment="操作者ID(systemならNULL)")
    actor_label: Mapped[str] = mapped_column(sa.String(120), comment="操作時点の操作者表示名")
    action: Mapped[str] = mapped_column(sa.String(64), index=True, comment="操作(例: staff.create)")
    target: Mapped[str] = mapped_column(sa.String(120), comment="対象(例: registrant:12)")
    detail: Mapped[str] = mapped_column(sa.Text, comment="詳細(JSON。個人情報の値そのものは記録しない)")
    client_ip: Mapped[str | None] = mapped_column(sa.String(45), comment="操作元IPアドレス")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), comment="直前の行のハッシュ(先頭行は0が64個)")
    row_hash: Mapped[str] = mapped_column(sa.String(64), comment="この行の内容と直前ハッシュのSHA-256")
