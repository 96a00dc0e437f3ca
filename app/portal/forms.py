"""Forms of the registrant portal: mailed links, password reset, consents, withdrawal, profile, sign-up.

The forms check shape and length; the meaning of a registrant's fields (kana, dates, codes, e-mail) is
checked by `records.validate`, the same rules the sync and the CSV import apply.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.codes.models import Code, CodeKind
from app.codes.services import selectable
from app.core.forms import BaseForm, strip_filter

REQUIRED = _l("入力してください。")


class NewPasswordForm(BaseForm):
    """The first password (invitation, verification) or a new one (reset)."""

    new_password = PasswordField(_l("新しいパスワード"), validators=[DataRequired(REQUIRED), Length(max=128)])
    confirm = PasswordField(_l("新しいパスワード(確認)"), validators=[
        DataRequired(REQUIRED), EqualTo("new_password", _l("確認用のパスワードが一致しません。"))])


class ResetRequestForm(BaseForm):
    email = StringField(_l("登録したメールアドレス"), filters=[strip_filter],
                        validators=[DataRequired(REQUIRED), Length(max=254)])


class ConfirmForm(BaseForm):
    """Only the CSRF token: a button that does one thing."""


class PreferencesForm(BaseForm):
    mail_consent = BooleanField(_l("お知らせメール(採用情報・研修・イベントなどのご案内)を受け取る"))
    data_use_consent = BooleanField(_l("登録情報を求人とのマッチングや、ご本人に合う情報のご案内に利用することに同意する"))
    posting_notice_opt_in = BooleanField(_l("条件に合う新着求人をメールで受け取る"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def code_choices(session: Session, kind: CodeKind, selected: list[str] | None = None) -> list[tuple[str, str]]:
    """Codes of one list that may be chosen today, in master order, labelled in the user's language (plus any already chosen)."""
    english = str(get_locale() or "ja") == "en"
    keep = session.scalars(sa.select(Code.id).where(Code.kind == kind.value, Code.code.in_(selected))).all() \
        if selected else []
    return [(code.code, (code.label_en or code.label) if english else code.label)
            for code in selectable(session, kind, keep_ids=keep)]


class _PersonFields(BaseForm):
    family_name = StringField(_l("氏"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=50)])
    given_name = StringField(_l("名"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=50)])
    family_name_kana = StringField(_l("氏(カナ)"), filters=[strip_filter],
                                   validators=[DataRequired(REQUIRED), Length(max=50)])
    given_name_kana = StringField(_l("名(カナ)"), filters=[strip_filter],
                                  validators=[DataRequired(REQUIRED), Length(max=50)])
    birth_date = StringField(_l("生年月日"), filters=[strip_filter], validators=[Optional(), Length(max=30)])
    phone = StringField(_l("電話番号"), filters=[strip_filter], validators=[Optional(), Length(max=20)])
    region = SelectField(_l("お住まいの地域"), validators=[Optional()], validate_choice=False)
    job_types = MultiCheckboxField(_l("希望する職種"), validate_choice=False)
    school_types = MultiCheckboxField(_l("希望する校種"), validate_choice=False)
    licences = MultiCheckboxField(_l("お持ちの免許・資格"), validate_choice=False)
    subjects = MultiCheckboxField(_l("教えられる教科"), validate_choice=False)

    CODE_FIELDS = {"job_types": CodeKind.JOB_TYPE, "school_types": CodeKind.SCHOOL_TYPE,
                   "licences": CodeKind.LICENCE, "subjects": CodeKind.SUBJECT}

    def load_choices(self, session: Session) -> None:
        chosen = [self.region.data] if self.region.data else []
        self.region.choices = [("", str(_l("選択してください"))), *code_choices(session, CodeKind.REGION, chosen)]
        for name, kind in self.CODE_FIELDS.items():
            field = self[name]
            field.choices = code_choices(session, kind, field.data or [])

    def record_fields(self) -> dict[str, Any]:
        """The values under the names `records.validate` expects."""
        values: dict[str, Any] = {name: self[name].data for name in
                                  ("family_name", "given_name", "family_name_kana", "given_name_kana",
                                   "birth_date", "phone", "region")}
        for name in self.CODE_FIELDS:
            values[name] = [value for value in (self[name].data or []) if isinstance(value, str)][:50]
        return values


class RegistrationForm(_PersonFields):
    email = StringField(_l("メールアドレス"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=254)])
    privacy_consent = BooleanField(_l("「個人情報の取扱い」を読み、同意します(必須)"),
                                   validators=[DataRequired(_l("登録には、個人情報の取扱いへの同意が必要です。"))])
    data_use_consent = BooleanField(_l("登録情報を求人とのマッチングや、ご本人に合う情報のご案内に利用することに同意する"))
    mail_consent = BooleanField(_l("お知らせメール(採用情報・研修・イベントなどのご案内)を受け取る"))

    def record_fields(self) -> dict[str, Any]:
        return super().record_fields() | {"email": self.email.data}


class ProfileForm(_PersonFields):
    desired_regions = MultiCheckboxField(_l("勤務を希望する地域"), validate_choice=False)
    postal_code = StringField(_l("郵便番号"), filters=[strip_filter], validators=[Optional(), Length(max=8)])
    address = StringField(_l("住所"), filters=[strip_filter], validators=[Optional(), Length(max=200)])
    available_from = StringField(_l("勤務できる日"), filters=[strip_filter], validators=[Optional(), Length(max=30)])
    availability_note = TextAreaField(_l("勤務できる曜日・時間帯など"), filters=[strip_filter],
                                      validators=[Optional(), Length(max=500)])
    former_department = StringField(_l("退職時の所属"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    left_year = StringField(_l("退職年度(西暦)"), filters=[strip_filter], validators=[Optional(), Length(max=4)])
    career_note = TextAreaField(_l("職歴・経歴"), filters=[strip_filter], validators=[Optional(), Length(max=4000)])
    interests = TextAreaField(_l("関心のある分野・活動"), filters=[strip_filter], validators=[Optional(), Length(max=1000)])

    # desired work regions are region codes in registrant_code (the residence is the `region` column)
    CODE_FIELDS = {**_PersonFields.CODE_FIELDS, "desired_regions": CodeKind.REGION}

    def record_fields(self) -> dict[str, Any]:
        return super().record_fields() | {name: self[name].data for name in (
            "postal_code", "address", "available_from", "availability_note", "former_department", "left_year",
            "career_note", "interests")}

    def fill_from(self, registrant: Any) -> None:
        for name in ("family_name", "given_name", "family_name_kana", "given_name_kana", "phone", "postal_code",
                     "address", "availability_note", "former_department", "career_note", "interests"):
            self[name].data = getattr(registrant, name) or ""
        for name in ("birth_date", "available_from"):
            value = getattr(registrant, name)
            self[name].data = value.isoformat() if value else ""
        self.left_year.data = str(registrant.left_year) if registrant.left_year else ""
        self.region.data = registrant.region.code if registrant.region else ""
        kinds = {"job_types": "job_type", "school_types": "school_type", "licences": "licence", "subjects": "subject",
                 "desired_regions": "region"}
        for name, kind in kinds.items():
            self[name].data = [code.code for code in registrant.codes_of(kind)]
