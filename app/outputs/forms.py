"""Forms of the output history: the filter (GET) and the export of the history itself."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, HiddenField, IntegerField, SelectField
from wtforms.validators import Length, NumberRange, Optional

from app.core.forms import BaseForm


class OutputFilterForm(BaseForm):
    class Meta:
        csrf = False

    kind = SelectField(_l("種類"), validators=[Optional()])
    staff = SelectField(_l("出力した職員"), coerce=int, validators=[Optional()])
    date_from = DateField(_l("出力日(から)"), validators=[Optional()])
    date_to = DateField(_l("出力日(まで)"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class HistoryExportForm(BaseForm):
    query = HiddenField(validators=[Length(max=2000)])
