"""Forms of the admin shell (staff users, filters, confirmations)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, EmailField, IntegerField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter
from app.staff.models import Role

ROLE_CHOICES = [
    (Role.ADMINISTRATOR.value, _l("管理者(すべての操作)")),
    (Role.EDITOR.value, _l("更新可(登録者データの更新)")),
    (Role.VIEWER.value, _l("閲覧のみ")),
]


class StaffCreateForm(BaseForm):
    email = EmailField(_l("メールアドレス(ログインID)"), filters=[strip_filter], validators=[
        DataRequired(_l("入力してください。")), Length(max=254)])
    display_name = StringField(_l("表示名"), filters=[strip_filter],
                               validators=[DataRequired(_l("入力してください。")), Length(max=100)])
    role = SelectField(_l("権限"), choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(_l("初期パスワード"),
                             validators=[DataRequired(_l("入力してください。")), Length(max=128)])
    submit = SubmitField(_l("登録"))


class StaffSearchForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(_l("メールアドレス・表示名"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    role = SelectField(_l("権限"), choices=[("", _l("すべて")), *ROLE_CHOICES], validators=[Optional()])


class RegistrantFilterForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(_l("氏名・カナ"), filters=[strip_filter], validators=[Optional(), Length(max=50)])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


def _plausible_date(form: Any, field: Any) -> None:
    """Year 1 or 9999 would overflow the Tokyo-to-UTC conversion of the audit filter."""
    if field.data and not date(1900, 1, 1) <= field.data <= date(2999, 12, 31):
        raise ValidationError(_l("入力内容を確認して、もう一度お試しください。"))


class AuditFilterForm(BaseForm):
    class Meta:
        csrf = False

    action = StringField(_l("操作"), filters=[strip_filter], validators=[Optional(), Length(max=64)])
    actor_kind = SelectField(_l("操作者種別"), validators=[Optional()], choices=[
        ("", _l("すべて")), ("staff", _l("管理者ユーザー")), ("registrant", _l("登録者")),
        ("system", _l("システム"))])
    date_from = DateField(_l("開始日"), validators=[Optional(), _plausible_date])
    date_to = DateField(_l("終了日"), validators=[Optional(), _plausible_date])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class ConfirmForm(BaseForm):
    """A bare form for POST buttons: carries only the CSRF token."""

    submit = SubmitField(_l("実行"))
