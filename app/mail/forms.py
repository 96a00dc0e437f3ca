"""Forms of the mail screens: compose, templates, and the small POST-only action forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.forms import BaseForm, strip_filter
from app.mail.compose import BODY_MAX, SUBJECT_MAX

ACTIONS = ("load_template", "preview", "test", "send")


class ComposeForm(BaseForm):
    audience = HiddenField(validators=[Length(max=200000)])
    template = SelectField(_l("ひな形"), coerce=int, validators=[Optional()])
    subject = StringField(_l("件名"), filters=[strip_filter], validators=[Optional(), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("本文"), validators=[Optional(), Length(max=BODY_MAX)])
    preview_registrant = SelectField(_l("プレビューする宛先"), coerce=int, validators=[Optional()],
                                     validate_choice=False)
    scheduled_at = DateTimeLocalField(_l("予約送信の日時(空欄なら今すぐ送信)"), format="%Y-%m-%dT%H:%M",
                                      validators=[Optional()])


class TemplateForm(BaseForm):
    name = StringField(_l("ひな形の名前"), filters=[strip_filter],
                       validators=[DataRequired(_l("入力してください。")), Length(max=100)])
    subject = StringField(_l("件名"), filters=[strip_filter],
                          validators=[DataRequired(_l("入力してください。")), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("本文"), validators=[DataRequired(_l("入力してください。")), Length(max=BODY_MAX)])


class ActionForm(BaseForm):
    """A button that POSTs (cancel, delete, lift): only the CSRF token."""


class UnsubscribeForm(BaseForm):
    """The confirm button on the public unsubscribe page (CSRF-protected like every form)."""


class RecipientPageForm(BaseForm):
    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])
    status = SelectField(validators=[Optional()], validate_choice=False)
