"""The pamphlet text form."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter
from app.pamphlet.services import (
    BENEFIT_MAX,
    BENEFITS_MAX,
    CLOSING_MAX,
    LEAD_MAX,
    TITLE_MAX,
    split_benefits,
)

REQUIRED = _l("入力してください。")


class PamphletForm(BaseForm):
    title = StringField(_l("見出し"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=TITLE_MAX)])
    lead = TextAreaField(_l("導入文"), filters=[strip_filter],
                         validators=[DataRequired(REQUIRED), Length(max=LEAD_MAX)])
    benefits = TextAreaField(_l("登録のメリット"), validators=[DataRequired(REQUIRED)])
    closing = TextAreaField(_l("結び・問い合わせ先"), filters=[strip_filter],
                            validators=[Optional(), Length(max=CLOSING_MAX)])
    preview = SubmitField(_l("プレビュー"))
    submit = SubmitField(_l("保存"))

    def validate_benefits(self, field: Any) -> None:
        items = split_benefits(field.data or "")
        if not items:
            raise ValidationError(REQUIRED)
        if len(items) > BENEFITS_MAX:
            raise ValidationError(_l("登録のメリットは%(n)d項目までにしてください(今は%(count)d項目です)。",
                                     n=BENEFITS_MAX, count=len(items)))
        too_long = [i + 1 for i, item in enumerate(items) if len(item) > BENEFIT_MAX]
        if too_long:
            raise ValidationError(_l("%(line)d項目めが長すぎます。1項目%(n)d文字以内にしてください。",
                                     line=too_long[0], n=BENEFIT_MAX))
