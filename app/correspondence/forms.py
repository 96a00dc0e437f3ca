"""Forms of the correspondence history (entry and search)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.core.forms import BaseForm, strip_filter
from app.correspondence.models import BODY_MAX, OUTCOME_MAX, SUBJECT_MAX


class CorrespondenceForm(BaseForm):
    occurred_at = DateTimeLocalField(_l("対応日時"), format="%Y-%m-%dT%H:%M",
                                     validators=[DataRequired(_l("日時を入力してください。"))])
    channel = SelectField(_l("手段"), coerce=int, validators=[DataRequired(_l("選択してください。"))])
    subject = StringField(_l("件名"), filters=[strip_filter],
                          validators=[DataRequired(_l("入力してください。")), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("内容"), validators=[DataRequired(_l("入力してください。")), Length(max=BODY_MAX)])
    outcome = StringField(_l("結果"), filters=[strip_filter], validators=[Optional(), Length(max=OUTCOME_MAX)])
    follow_up_on = DateField(_l("次回対応予定日"), validators=[Optional()])
    submit = SubmitField(_l("保存"))


class CorrespondenceSearchForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(_l("件名・内容・結果"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    channel = SelectField(_l("手段"), coerce=int, validators=[Optional()])
    staff = SelectField(_l("対応者"), coerce=int, validators=[Optional()])
    date_from = DateField(_l("対応日(から)"), validators=[Optional()])
    date_to = DateField(_l("対応日(まで)"), validators=[Optional()])
    follow_up_by = DateField(_l("次回対応予定日がこの日以前"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])
