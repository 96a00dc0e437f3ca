"""Sync runs, the cursor and lock, quarantined records and duplicate candidates."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncState(db.Model):
    """One row per source: the cursor and a lease-style lock shared by every web node."""

    __tablename__ = "sync_state"
    __table_args__ = {"comment": "連携元ごとの同期状態(カーソルと多重実行防止ロック)"}

    source: Mapped[str] = mapped_column(sa.String(32), primary_key=True, comment="連携元(e_application など)")
    cursor: Mapped[str | None] = mapped_column(sa.String(64), comment="次回の取得開始位置(updated_since)")
    lock_owner: Mapped[str | None] = mapped_column(sa.String(120), comment="実行中のプロセス(ホスト名:PID:乱数)")
    lock_expires_at: Mapped[datetime | None] = mapped_column(comment="ロックの期限(UTC)。過ぎたら他が取得できる")


class SyncRun(db.Model):
    __tablename__ = "sync_run"
    __table_args__ = {"comment": "同期・取込の実行履歴"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    source: Mapped[str] = mapped_column(sa.String(32), index=True, comment="連携元(e_application / csv)")
    trigger: Mapped[str] = mapped_column(sa.String(16), comment="起動のきっかけ(timer / manual / staff)")
    status: Mapped[str] = mapped_column(sa.String(12), comment="状態(running / succeeded / failed)")
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True, comment="開始日時(UTC)")
    finished_at: Mapped[datetime | None] = mapped_column(comment="終了日時(UTC)")
    cursor_before: Mapped[str | None] = mapped_column(sa.String(64), comment="開始時のカーソル")
    cursor_after: Mapped[str | None] = mapped_column(sa.String(64), comment="終了時のカーソル")
    fetched: Mapped[int] = mapped_column(default=0, server_default="0", comment="取得件数")
    created: Mapped[int] = mapped_column(default=0, server_default="0", comment="新規登録件数")
    updated: Mapped[int] = mapped_column(default=0, server_default="0", comment="更新件数")
    unchanged: Mapped[int] = mapped_column(default=0, server_default="0", comment="変更なし件数")
    quarantined: Mapped[int] = mapped_column(default=0, server_default="0", comment="隔離(不正データ)件数")
    duplicates: Mapped[int] = mapped_column(default=0, server_default="0", comment="重複候補として保留した件数")
    failed: Mapped[int] = mapped_column(default=0, server_default="0", comment="処理に失敗した件数")
    error: Mapped[str | None] = mapped_column(sa.String(1000), comment="失敗理由")
    node: Mapped[str | None] = mapped_column(sa.String(120), comment="実行したサーバー")


class QuarantinedRecord(db.Model):
    """A source record that could not be applied; staff fix it at the source and the next run retries it."""

    __tablename__ = "quarantined_record"
    __table_args__ = (
        sa.UniqueConstraint("source", "record_id", name="uq_quarantined_record_source_record"),
        {"comment": "取り込めなかった連携元レコード(理由付き)。連携元で修正されると次回解消"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    source: Mapped[str] = mapped_column(sa.String(32), comment="連携元")
    record_id: Mapped[str] = mapped_column(sa.String(64), comment="連携元のレコードID")
    payload: Mapped[str] = mapped_column(sa.Text, comment="受け取ったレコード(JSON)")
    reasons: Mapped[str] = mapped_column(sa.Text, comment="取り込めない理由(JSONの配列、日本語)")
    run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sync_run.id", ondelete="SET NULL"), comment="最後に隔離した実行"
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, comment="初めて隔離した日時(UTC)")
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, comment="最後に隔離した日時(UTC)")
    resolved_at: Mapped[datetime | None] = mapped_column(comment="解消した日時(UTC)")


class DuplicateCandidate(db.Model):
    """An incoming record that looks like an existing registrant under another record id."""

    __tablename__ = "duplicate_candidate"
    __table_args__ = (
        sa.UniqueConstraint("source", "record_id", name="uq_duplicate_candidate_source_record"),
        {"comment": "重複の可能性がある連携元レコード。職員が統合または別人と判断する"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    source: Mapped[str] = mapped_column(sa.String(32), comment="連携元")
    record_id: Mapped[str] = mapped_column(sa.String(64), comment="連携元のレコードID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), index=True, comment="似ている既存の登録者ID"
    )
    reason: Mapped[str] = mapped_column(sa.String(32), comment="判定理由(same_name_birth_date / same_email)")
    payload: Mapped[str] = mapped_column(sa.Text, comment="受け取ったレコード(JSON)")
    status: Mapped[str] = mapped_column(
        sa.String(12), default="open", server_default="open", comment="状態(open=未対応 / merged=統合 / dismissed=別人)"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="検出日時(UTC)")
    resolved_at: Mapped[datetime | None] = mapped_column(comment="対応日時(UTC)")
    resolved_by: Mapped[int | None] = mapped_column(comment="対応した職員ID")
