"""Staff accounts and the role each one holds."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.models import Credentials
from app.core.timeutil import utcnow
from app.extensions import db


class Permission(enum.Enum):
    VIEW = "view"  # read registrants, reports
    EDIT = "edit"  # change registrant data, send mail, export
    ADMIN = "admin"  # staff users, code masters, audit history


class Role(enum.StrEnum):
    ADMINISTRATOR = "administrator"
    EDITOR = "editor"
    VIEWER = "viewer"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission),
    Role.EDITOR: frozenset({Permission.VIEW, Permission.EDIT}),
    Role.VIEWER: frozenset({Permission.VIEW}),
}


class StaffUser(Credentials, UserMixin, db.Model):
    __tablename__ = "staff_user"
    __table_args__ = {"comment": "管理者(職員)ユーザー"}

    account_kind = "staff"

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, comment="ログインID(メールアドレス)")
    display_name: Mapped[str] = mapped_column(sa.String(100), comment="表示名")
    role: Mapped[str] = mapped_column(
        sa.String(20), comment="権限(administrator=管理者 / editor=更新可 / viewer=閲覧のみ)"
    )
    is_enabled: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="有効フラグ。無効ならログイン不可"
    )
    must_change_password: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false(), comment="次回ログイン時にパスワード変更を求めるか(管理者が強制)")
    totp_secret: Mapped[str | None] = mapped_column(
        sa.String(64), comment="二要素認証(TOTP)の共有鍵。設定前・解除後はNULL")
    totp_enabled_at: Mapped[datetime | None] = mapped_column(comment="二要素認証を有効にした日時(UTC)")
    totp_last_step: Mapped[int | None] = mapped_column(comment="最後に受け付けたTOTPの時間ステップ(同じコードの再使用を拒む)")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")

    def get_id(self) -> str:
        return f"staff:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role_enum]
