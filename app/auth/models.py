"""What every account that can log in carries, and the server-side login sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.timeutil import utcnow
from app.extensions import db


class Credentials:
    """Password and lock-out state, mixed into StaffUser and Registrant."""

    password_hash: Mapped[str | None] = mapped_column(
        sa.String(255), comment="Argon2idハッシュ化したパスワード(未設定ならNULL)"
    )
    password_changed_at: Mapped[datetime | None] = mapped_column(comment="パスワード最終変更日時(UTC)")
    failed_login_count: Mapped[int] = mapped_column(
        default=0, server_default="0", comment="現在の判定期間内のログイン失敗回数"
    )
    failure_window_started_at: Mapped[datetime | None] = mapped_column(
        comment="ログイン失敗の判定期間の開始日時(UTC)"
    )
    locked_until: Mapped[datetime | None] = mapped_column(
        comment="アカウントロックの解除予定日時(UTC)。NULLはロックなし"
    )
    last_login_at: Mapped[datetime | None] = mapped_column(comment="最終ログイン日時(UTC)")

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())


class LoginSession(db.Model):
    """One logged-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "login_session"
    __table_args__ = (
        sa.Index("ix_login_session_account", "account_kind", "account_id"),
        {"comment": "ログインセッション(ブラウザごと)。ログアウト・パスワード変更で削除"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    token_hash: Mapped[str] = mapped_column(
        sa.String(64), unique=True, comment="セッショントークンのSHA-256ハッシュ"
    )
    account_kind: Mapped[str] = mapped_column(sa.String(16), comment="アカウント種別(staff / registrant)")
    account_id: Mapped[int] = mapped_column(comment="職員IDまたは登録者ID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="ログイン日時(UTC)")
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, comment="最終アクセス日時(UTC)")


class AccountToken(db.Model):
    """A one-time link sent by mail: invitation, password reset, e-mail verification. Only the hash is kept."""

    __tablename__ = "account_token"
    __table_args__ = (
        sa.Index("ix_account_token_account", "account_kind", "account_id"),
        {"comment": "メールで送る1回限りのリンク(招待・パスワード再設定・メール確認)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    purpose: Mapped[str] = mapped_column(sa.String(16), comment="用途(invite / reset / verify)")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, comment="トークンのSHA-256ハッシュ")
    account_kind: Mapped[str] = mapped_column(sa.String(16), comment="アカウント種別(staff / registrant)")
    account_id: Mapped[int] = mapped_column(comment="職員IDまたは登録者ID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="発行日時(UTC)")
    expires_at: Mapped[datetime] = mapped_column(comment="有効期限(UTC)")
    used_at: Mapped[datetime | None] = mapped_column(comment="使用日時(UTC)。使用済みなら再使用不可")
