"""One table for every code list; `kind` says which list a row belongs to."""

from __future__ import annotations

import enum
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CodeKind(enum.StrEnum):
    REGION = "region"
    SCHOOL_TYPE = "school_type"
    SUBJECT = "subject"
    LICENCE = "licence"
    JOB_TYPE = "job_type"
    CORRESPONDENCE_CHANNEL = "correspondence_channel"
    EMPLOYMENT_TYPE = "employment_type"  # 任用形態 of a job posting (e.g. 臨時的任用, 会計年度任用)
    TAG = "tag"  # labels staff attach to registrants (e.g. 説明会参加)
    ARTICLE_CATEGORY = "article_category"  # 記事の分類 (e.g. 復職・採用情報)


class Code(db.Model):
    __tablename__ = "code"
    __table_args__ = (
        sa.UniqueConstraint("kind", "code", name="uq_code_kind_code"),
        {"comment": "コードマスタ(地域・校種・教科・免許・職種など)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    kind: Mapped[str] = mapped_column(sa.String(32), index=True, comment="コード種別(region, subject など)")
    code: Mapped[str] = mapped_column(sa.String(32), comment="コード値(種別内で一意)")
    label: Mapped[str] = mapped_column(sa.String(100), comment="表示名(日本語)")
    label_en: Mapped[str | None] = mapped_column(sa.String(100), comment="表示名(英語)")
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0", comment="表示順")
    is_active: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="有効フラグ。無効なコードは新規選択不可"
    )
    valid_from: Mapped[date | None] = mapped_column(comment="有効期間の開始日(NULLは制限なし)")
    valid_to: Mapped[date | None] = mapped_column(comment="有効期間の終了日(この日まで有効。NULLは制限なし)")


class CodeLabel(db.Model):
    """A label a code carried before it was renamed, so an old record shows the name of its time."""

    __tablename__ = "code_label"
    __table_args__ = (
        sa.Index("ix_code_label_code_period", "code_id", "valid_to"),
        {"comment": "コードの過去の表示名(名称変更の履歴。期間内の記録には当時の名称を表示)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    code_id: Mapped[int] = mapped_column(sa.ForeignKey("code.id", ondelete="CASCADE"), comment="コードID")
    label: Mapped[str] = mapped_column(sa.String(100), comment="当時の表示名(日本語)")
    label_en: Mapped[str | None] = mapped_column(sa.String(100), comment="当時の表示名(英語)")
    valid_from: Mapped[date | None] = mapped_column(comment="この名称を使い始めた日(NULLは最初から)")
    valid_to: Mapped[date] = mapped_column(comment="この名称を使った最後の日")
