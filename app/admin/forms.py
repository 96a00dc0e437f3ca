"""Forms of the admin shell (filters, confirmations). Staff-user forms are in app.staff.forms."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter


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
