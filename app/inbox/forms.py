"""Forms of the bulk-message screens."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter
from app.inbox.services import ALL_ACTIVE, BODY_MAX, SAVED_SEARCH, SUBJECT_MAX

REQUIRED = _l("入力してください。")


def _int_or_zero(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1  # not a choice: refused by the choice check with its message


class MessageForm(BaseForm):
    subject = StringField(_l("件名"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("本文"), validators=[DataRequired(REQUIRED), Length(max=BODY_MAX)], render_kw={"rows": 12})
    audience = RadioField(_l("宛先"), default=ALL_ACTIVE, choices=[
        (ALL_ACTIVE, _l("有効な登録者全員")), (SAVED_SEARCH, _l("保存した検索に一致する有効な登録者"))])
    saved_search = SelectField(_l("保存した検索"), coerce=_int_or_zero, default=0, validate_choice=True)
    send_email = BooleanField(_l("メールでも知らせる(メール受信に同意し、配信停止していない人だけに届きます)"),
                              default=True)

    def validate_saved_search(self, field: Any) -> None:
        if self.audience.data == SAVED_SEARCH and not field.data:
            raise ValidationError(_l("保存した検索を選んでください。"))


class MessageListForm(BaseForm):
    class Meta:
        csrf = False

    direct = BooleanField(_l("個別メッセージ(問い合わせへの回答など)も表示する"))
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class InboxPageForm(BaseForm):
    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])
