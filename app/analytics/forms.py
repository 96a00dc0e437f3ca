"""The dashboard's period selector and the report pickers (GET forms, no CSRF: they change nothing)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import Optional

from app.analytics import services
from app.analytics.report import FIRST_YEAR, fiscal_year_label
from app.core.forms import BaseForm
from app.core.timeutil import fiscal_year

REPORT_MONTHS = 24  # months offered in the monthly-report picker (the CLI takes any month)


class PeriodForm(BaseForm):
    class Meta:
        csrf = False

    period = SelectField(_l("期間"), choices=[(key, label) for key, label in services.PERIODS.items()],
                         default=services.DEFAULT_PERIOD, validators=[Optional()], validate_choice=True)


class MonthlyReportForm(BaseForm):
    class Meta:
        csrf = False

    month = SelectField(_l("対象の月"), validators=[Optional()], validate_choice=False)

    def __init__(self, today: date, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        first = today.replace(day=1)
        months = [services.add_months(first, -n) for n in range(REPORT_MONTHS)]
        self.month.choices = [(f"{m:%Y-%m}", services.month_label(m)) for m in months if m.year >= FIRST_YEAR]
        if not self.month.data and len(months) > 1:
            self.month.data = f"{months[1]:%Y-%m}"  # last month: the one a monthly report is usually for


class FiscalYearReportForm(BaseForm):
    class Meta:
        csrf = False

    year = SelectField(_l("対象の年度"), validators=[Optional()], validate_choice=False)

    def __init__(self, today: date, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = fiscal_year(today)
        self.year.choices = [(str(y), _("%(label)s(%(year)d年度)", label=fiscal_year_label(y), year=y))
                             for y in range(current, max(FIRST_YEAR, current - 9) - 1, -1)]
