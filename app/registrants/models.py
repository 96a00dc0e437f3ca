"""A registrant and the code-master entries attached to them."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Credentials
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db


class RegistrantStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


registrant_code = sa.Table(
    "registrant_code",
    db.metadata,
    sa.Column(
        "registrant_id",
        sa.ForeignKey("registrant.id", ondelete="CASCADE"),
        primary_key=True,
        comment="登録者ID",
    ),
    sa.Column(
        "code_id", sa.ForeignKey("code.id", ondelete="RESTRICT"), primary_key=True, comment="コードID"
    ),
    comment="登録者に付く免許・教科・希望職種・希望校種(コードマスタとの対応)",
)


class Registrant(Credentials, UserMixin, db.Model):
    __tablename__ = "registrant"
    __table_args__ = {"comment": "登録者"}

    account_kind = "registrant"

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    external_id: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="電子申請システム側の申請番号(連携元のキー)"
    )
    family_name: Mapped[str] = mapped_column(sa.String(50), comment="氏")
    given_name: Mapped[str] = mapped_column(sa.String(50), comment="名")
    family_name_kana: Mapped[str] = mapped_column(sa.String(50), comment="氏(カナ)")
    given_name_kana: Mapped[str] = mapped_column(sa.String(50), comment="名(カナ)")
    birth_date: Mapped[date | None] = mapped_column(comment="生年月日")
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, comment="メールアドレス(ログインID)")
    phone: Mapped[str | None] = mapped_column(sa.String(20), comment="電話番号")
    region_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("code.id", ondelete="SET NULL"), comment="居住地域(コードマスタ region)"
    )
    status: Mapped[str] = mapped_column(
        sa.String(16),
        default=RegistrantStatus.ACTIVE.value,
        index=True,
        comment="状態(active=有効 / expired=期限切れ / withdrawn=退会)",
    )
    registered_at: Mapped[datetime] = mapped_column(default=utcnow, comment="登録日時(UTC)")
    valid_until: Mapped[date] = mapped_column(comment="登録の有効期限(年度末 3月31日)")
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, comment="最終更新日時(UTC)"
    )

    region: Mapped[Code | None] = relationship(foreign_keys=[region_id])
    codes: Mapped[list[Code]] = relationship(secondary=registrant_code, order_by=Code.sort_order)

    def get_id(self) -> str:
        return f"registrant:{self.id}"

    @property
    def is_active(self) -> bool:
        return self.status != RegistrantStatus.WITHDRAWN.value

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana} {self.given_name_kana}"

    def codes_of(self, kind: str) -> list[Code]:
        return [code for code in self.codes if code.kind == kind]
