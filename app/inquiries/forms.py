"""Forms of the inquiry screens: the registrant's contact form, the staff filter and reply."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.forms import BaseForm, strip_filter
from app.inquiries.services import BODY_MAX, STATUS_LABELS, SUBJECT_MAX

REQUIRED = _l("入力してください。")


class InquiryForm(BaseForm):
    subject = StringField(_l("件名"), filters=[strip_filter],
                          validators=[DataRequired(REQUIRED), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("お問い合わせの内容"), validators=[DataRequired(REQUIRED), Length(max=BODY_MAX)])
    confirm = SubmitField(_l("確認画面へ"))
    send = SubmitField(_l("送信する"))
    edit = SubmitField(_l("修正する"))


class InquiryFilterForm(BaseForm):
    class Meta:
        csrf = False

    status = SelectField(_l("状態"), validators=[Optional()],
                         choices=[("", _l("すべて")), *STATUS_LABELS.items()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class ReplyForm(BaseForm):
    subject = StringField(_l("件名"), filters=[strip_filter],
                          validators=[DataRequired(REQUIRED), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("回答"), validators=[DataRequired(REQUIRED), Length(max=BODY_MAX)])
    submit = SubmitField(_l("回答を送信"))
