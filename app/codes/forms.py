"""Forms of the code-master screens."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from app.codes.models import CodeKind
from app.core.forms import BaseForm, strip_filter

REQUIRED = _l("入力してください。")


def _plausible_date(form: Any, field: Any) -> None:
    if field.data and not date(1900, 1, 1) <= field.data <= date(2999, 12, 31):
        raise ValidationError(_l("日付を確認してください。"))


class _LabelFields(BaseForm):
    label = StringField(_l("表示名"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=100)])
    label_en = StringField(_l("表示名(英語)"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    valid_from = DateField(_l("有効期間の開始日"), validators=[Optional(), _plausible_date])
    valid_to = DateField(_l("有効期間の終了日(この日まで有効)"), validators=[Optional(), _plausible_date])


class CodeCreateForm(_LabelFields):
    kind = SelectField(_l("種別"), validators=[DataRequired()], choices=[k.value for k in CodeKind])
    code = StringField(_l("コード値"), filters=[strip_filter], validators=[
        DataRequired(REQUIRED), Length(max=32),
        Regexp(r"^[A-Za-z0-9_\-]+$", message=_l("半角英数字・ハイフン・アンダースコアで入力してください。"))])
    submit = SubmitField(_l("追加"))


class CodeEditForm(_LabelFields):
    renamed_on = DateField(_l("新しい表示名の適用日"), validators=[Optional(), _plausible_date])
    submit = SubmitField(_l("保存"))


class CodeKindForm(BaseForm):
    class Meta:
        csrf = False

    kind = SelectField(_l("種別"), choices=[k.value for k in CodeKind], validators=[Optional()])


class MoveForm(BaseForm):
    direction = SelectField(choices=["up", "down"], validators=[DataRequired()])


class RetireForm(BaseForm):
    last_day = DateField(_l("終了日"), validators=[Optional(), _plausible_date])
