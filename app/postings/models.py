"""A job posting from a school, the codes it asks for, and which registrants were told about it."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db


class PostingStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    FILLED = "filled"  # closed because the openings were filled
    CLOSED = "closed"


class PostingCodeRole(enum.StrEnum):
    SUBJECT = "subject"
    REQUIRED_LICENCE = "required_licence"  # a candidate must hold at least one of these
    PREFERRED_LICENCE = "preferred_licence"


posting_code = sa.Table(
    "job_posting_code",
    db.metadata,
    sa.Column("posting_id", sa.ForeignKey("job_posting.id", ondelete="CASCADE"), primary_key=True,
              comment="求人ID"),
    sa.Column("code_id", sa.ForeignKey("code.id", ondelete="RESTRICT"), primary_key=True, comment="コードID"),
    sa.Column("role", sa.String(20), primary_key=True,
              comment="用途(subject=教科 / required_licence=必須免許 / preferred_licence=歓迎免許)"),
    sa.Index("ix_job_posting_code_code", "code_id", "role", "posting_id"),
    comment="求人が求める教科・必須免許・歓迎免許(コードマスタとの対応)",
)


class JobPosting(db.Model):
    __tablename__ = "job_posting"
    __table_args__ = (
        sa.Index("ix_job_posting_status_publish", "status", "publish_from"),
        {"comment": "求人(学校が求める人材。マッチングと登録者への案内に使う)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="求人の件名(例: 中学校 数学 常勤講師)")
    school_name: Mapped[str] = mapped_column(sa.String(100), comment="学校名")
    school_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), comment="校種(コードマスタ school_type)")
    region_id: Mapped[int] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), index=True, comment="学校の所在市町村(コードマスタ region)")
    job_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), index=True, comment="職種(コードマスタ job_type)")
    employment_type_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), comment="任用形態(コードマスタ employment_type)")
    period_start: Mapped[date] = mapped_column(comment="勤務期間の開始日")
    period_end: Mapped[date | None] = mapped_column(comment="勤務期間の終了日(NULLは定めなし)")
    days_hours: Mapped[str | None] = mapped_column(sa.String(200), comment="勤務日・時間(例: 月〜金 8:15〜16:45)")
    openings: Mapped[int] = mapped_column(default=1, server_default="1", comment="募集人数")
    description: Mapped[str | None] = mapped_column(sa.Text, comment="仕事の内容・条件など(4000文字以内)")
    contact: Mapped[str | None] = mapped_column(sa.String(300), comment="問い合わせ先(学校・教育事務所の窓口)")
    status: Mapped[str] = mapped_column(
        sa.String(12), default=PostingStatus.DRAFT.value, server_default=PostingStatus.DRAFT.value,
        comment="状態(draft=下書き / open=募集中 / filled=充足 / closed=終了)")
    publish_from: Mapped[datetime | None] = mapped_column(comment="登録者ページへの掲載開始日時(UTC)")
    publish_until: Mapped[datetime | None] = mapped_column(comment="掲載終了日時(UTC)。NULLは終了なし")
    show_in_portal: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="募集中の間、登録者ページに掲載するか")
    notified_at: Mapped[datetime | None] = mapped_column(comment="合う登録者への新着求人メールを送信待ちにした日時(UTC)")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")
    closed_at: Mapped[datetime | None] = mapped_column(comment="充足・終了にした日時(UTC)")

    school_type: Mapped[Code] = relationship(foreign_keys=[school_type_id])
    region: Mapped[Code] = relationship(foreign_keys=[region_id])
    job_type: Mapped[Code] = relationship(foreign_keys=[job_type_id])
    employment_type: Mapped[Code | None] = relationship(foreign_keys=[employment_type_id])

    def codes_for(self, session: sa.orm.Session, role: PostingCodeRole) -> list[Code]:
        return list(session.scalars(
            sa.select(Code).join(posting_code, posting_code.c.code_id == Code.id)
            .where(posting_code.c.posting_id == self.id, posting_code.c.role == role.value)
            .order_by(Code.sort_order, Code.id)))


class PostingNotice(db.Model):
    """A registrant told about a posting by the new-posting mail: never twice for the same posting."""

    __tablename__ = "job_posting_notice"
    __table_args__ = (
        sa.UniqueConstraint("posting_id", "registrant_id", name="uq_job_posting_notice"),
        # covers the notice mail's per-registrant read (app/mail/posting_notices.py) without touching the table
        sa.Index("ix_job_posting_notice_registrant", "registrant_id", "posting_id", "created_at"),
        {"comment": "新着求人メールを送った記録(求人ごとに1人1回まで)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    posting_id: Mapped[int] = mapped_column(sa.ForeignKey("job_posting.id", ondelete="CASCADE"), comment="求人ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), comment="登録者ID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="送信待ちにした日時(UTC)")
