"""A registrant, the code-master entries attached to them, and their consent and status history."""

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
    PENDING = "pending"  # self-registered, e-mail not yet verified or not yet approved by staff
    ACTIVE = "active"
    EXPIRED = "expired"  # not renewed by 1 April: no mail, no matching
    WITHDRAWN = "withdrawn"
    ANONYMISED = "anonymised"  # personal data erased after the retention period


class RegistrantSource(enum.StrEnum):
    E_APPLICATION = "e_application"
    IMPORT = "import"
    SELF = "self"
    STAFF = "staff"
    DEMO = "demo"


class ConsentKind(enum.StrEnum):
    PRIVACY_NOTICE = "privacy_notice"
    MAIL = "mail"
    DATA_USE = "data_use"


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
    sa.Index("ix_registrant_code_code", "code_id", "registrant_id"),
    comment="登録者に付く免許・教科・希望職種・希望校種・タグ(コードマスタとの対応)",
)


class Registrant(Credentials, UserMixin, db.Model):
    __tablename__ = "registrant"
    __table_args__ = (
        sa.Index("ix_registrant_duplicate_key", "name_key", "birth_date"),
        sa.Index("ix_registrant_birth_date", "birth_date"),
        sa.Index("ix_registrant_registered_at", "registered_at"),
        sa.Index("ix_registrant_region_birth", "region_id", "birth_date"),  # region + age searches
        {"comment": "登録者"},
    )

    account_kind = "registrant"

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    external_id: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="連携元(電子申請システム等)のレコードID。同期・取込のキー"
    )
    source: Mapped[str] = mapped_column(
        sa.String(20), default=RegistrantSource.STAFF.value, server_default=RegistrantSource.STAFF.value,
        comment="登録経路(e_application=電子申請 / import=CSV取込 / self=本人登録 / staff=職員 / demo=デモ)",
    )
    referral_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("referral_code.id", ondelete="SET NULL"), comment="登録のきっかけになったQRコード(チラシ等)"
    )
    family_name: Mapped[str] = mapped_column(sa.String(50), comment="氏")
    given_name: Mapped[str] = mapped_column(sa.String(50), comment="名")
    family_name_kana: Mapped[str] = mapped_column(sa.String(50), comment="氏(カナ)")
    given_name_kana: Mapped[str] = mapped_column(sa.String(50), comment="名(カナ)")
    name_key: Mapped[str] = mapped_column(
        sa.String(100), default="", comment="重複判定用の正規化氏名(NFKC・空白除去)"
    )
    search_text: Mapped[str] = mapped_column(
        sa.String(300), default="", index=True,
        comment="検索用の正規化文字列(氏名・カナをNFKC、カタカナ→ひらがな、空白除去で連結)",
    )
    birth_date: Mapped[date | None] = mapped_column(comment="生年月日")
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, comment="メールアドレス(ログインID)")
    phone: Mapped[str | None] = mapped_column(sa.String(20), comment="電話番号")
    postal_code: Mapped[str | None] = mapped_column(sa.String(8), comment="郵便番号(例: 850-8570)")
    address: Mapped[str | None] = mapped_column(sa.String(200), comment="住所")
    region_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("code.id", ondelete="SET NULL"), comment="居住地域(コードマスタ region)"
    )
    available_from: Mapped[date | None] = mapped_column(comment="勤務可能となる日")
    availability_note: Mapped[str | None] = mapped_column(sa.String(500), comment="勤務可能な曜日・時間帯などの補足")
    former_department: Mapped[str | None] = mapped_column(sa.String(100), comment="退職時の所属(OB・OG)")
    left_year: Mapped[int | None] = mapped_column(comment="退職年度(西暦)")
    career_note: Mapped[str | None] = mapped_column(sa.Text, comment="職歴・経歴(自由記述)")
    interests: Mapped[str | None] = mapped_column(sa.String(1000), comment="関心のある分野・活動(自由記述)")
    mail_consent: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="お知らせメールの受信に同意しているか"
    )
    posting_notice_opt_in: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false(), comment="条件に合う新着求人のお知らせメールを希望するか")
    data_use_consent: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="マッチング等への登録情報の利用に同意しているか"
    )
    privacy_notice_version: Mapped[str | None] = mapped_column(
        sa.String(20), comment="同意した個人情報の取扱い(プライバシーポリシー)の版"
    )
    status: Mapped[str] = mapped_column(
        sa.String(16),
        default=RegistrantStatus.ACTIVE.value,
        server_default=RegistrantStatus.ACTIVE.value,
        index=True,
        comment="状態(pending=確認待ち / active=有効 / expired=期限切れ / withdrawn=退会 / anonymised=匿名化済)",
    )
    registered_at: Mapped[datetime] = mapped_column(default=utcnow, comment="登録日時(UTC)")
    valid_until: Mapped[date] = mapped_column(comment="登録の有効期限(年度末 3月31日)")
    renewed_at: Mapped[datetime | None] = mapped_column(comment="最後に年度更新した日時(UTC)")
    email_verified_at: Mapped[datetime | None] = mapped_column(comment="メールアドレスを確認した日時(UTC)")
    approved_at: Mapped[datetime | None] = mapped_column(comment="本人登録を職員が承認した日時(UTC)")
    status_changed_at: Mapped[datetime | None] = mapped_column(comment="状態が最後に変わった日時(UTC)")
    withdrawal_requested_at: Mapped[datetime | None] = mapped_column(comment="本人が退会を申し出た日時(UTC)")
    source_updated_at: Mapped[datetime | None] = mapped_column(comment="連携元での最終更新日時(UTC)")
    source_hash: Mapped[str | None] = mapped_column(
        sa.String(64), comment="最後に反映した連携元レコードのハッシュ(変更なしの判定用)"
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, comment="最終更新日時(UTC)"
    )

    region: Mapped[Code | None] = relationship(foreign_keys=[region_id])
    codes: Mapped[list[Code]] = relationship(secondary=registrant_code, order_by=Code.sort_order)

    def get_id(self) -> str:
        return f"registrant:{self.id}"

    @property
    def is_active(self) -> bool:
        """May log in: not withdrawn or anonymised (an expired registrant can still log in to renew)."""
        return self.status in {RegistrantStatus.ACTIVE.value, RegistrantStatus.EXPIRED.value,
                               RegistrantStatus.PENDING.value}

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana} {self.given_name_kana}"

    def codes_of(self, kind: str) -> list[Code]:
        return [code for code in self.codes if code.kind == kind]


class ConsentRecord(db.Model):
    """Every consent given or withdrawn, with the notice version: the history the hand-over carries."""

    __tablename__ = "consent_record"
    __table_args__ = {"comment": "同意の履歴(個人情報の取扱い・メール受信・情報利用)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), index=True, comment="登録者ID"
    )
    kind: Mapped[str] = mapped_column(sa.String(20), comment="同意の種類(privacy_notice / mail / data_use)")
    granted: Mapped[bool] = mapped_column(comment="同意した(真)か、撤回した(偽)か")
    notice_version: Mapped[str | None] = mapped_column(sa.String(20), comment="同意時の個人情報の取扱いの版")
    source: Mapped[str] = mapped_column(sa.String(20), comment="記録の経路(e_application / import / self / staff)")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, comment="記録日時(UTC)")


class StatusChange(db.Model):
    """The registrant's status history (also in the audit chain; this copy travels with the hand-over)."""

    __tablename__ = "registrant_status_change"
    __table_args__ = {"comment": "登録者の状態変更の履歴"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), index=True, comment="登録者ID"
    )
    from_status: Mapped[str | None] = mapped_column(sa.String(16), comment="変更前の状態(新規はNULL)")
    to_status: Mapped[str] = mapped_column(sa.String(16), comment="変更後の状態")
    reason: Mapped[str] = mapped_column(sa.String(64), comment="理由(例: fiscal_year_end, renewed, withdrawal)")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, comment="変更日時(UTC)")


class ReferralCode(db.Model):
    """A QR code printed on a pamphlet, poster or event flyer; registrations record which one brought them."""

    __tablename__ = "referral_code"
    __table_args__ = {"comment": "登録用QRコード(チラシ・ポスター・イベント別の流入元)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    code: Mapped[str] = mapped_column(sa.String(32), unique=True, comment="URLに入るランダムな識別子")
    label: Mapped[str] = mapped_column(sa.String(100), comment="名称(例: 令和8年度パンフレット)")
    medium: Mapped[str] = mapped_column(sa.String(20), comment="媒体(pamphlet / poster / event / web / other)")
    is_active: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="有効フラグ。無効なら登録ページに案内しない"
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
