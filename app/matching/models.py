"""The weights of the match score, and the candidates staff work through for a posting (the pipeline)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class CandidateStage(enum.StrEnum):
    PROPOSED = "proposed"
    CONTACTED = "contacted"
    INTERVIEWING = "interviewing"
    HIRED = "hired"
    DECLINED = "declined"


class MatchWeight(db.Model):
    """One part of the score and its points; rows missing from the table use the shipped default."""

    __tablename__ = "match_weight"
    __table_args__ = {"comment": "マッチングの点数の重み(管理者が変更。変更は監査履歴に残る)"}

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True,
                                     comment="重みの種類(例: required_licence, same_region, recent_contact)")
    points: Mapped[int] = mapped_column(comment="点数(減点は負の値)")
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="最後に変更した職員のID")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")


class MatchCandidate(db.Model):
    __tablename__ = "match_candidate"
    __table_args__ = (
        sa.UniqueConstraint("posting_id", "registrant_id", name="uq_match_candidate"),
        sa.Index("ix_match_candidate_stage", "posting_id", "stage"),
        {"comment": "求人ごとの候補者と選考の段階(提案・連絡済・面接中・採用・辞退)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    posting_id: Mapped[int] = mapped_column(sa.ForeignKey("job_posting.id", ondelete="CASCADE"), comment="求人ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), index=True, comment="登録者ID")
    stage: Mapped[str] = mapped_column(
        sa.String(16), comment="段階(proposed=提案 / contacted=連絡済 / interviewing=面接中 / hired=採用 / declined=辞退)")
    score: Mapped[int] = mapped_column(comment="候補にした時点の点数")
    note: Mapped[str | None] = mapped_column(sa.String(500), comment="メモ")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="候補にした職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="候補にした日時(UTC)")
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True, comment="段階が最後に変わった日時(UTC)")
