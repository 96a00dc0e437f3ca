"""Forms of the documents screens: template upload, the application-form lookup, the report period."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, RadioField, SelectField, SubmitField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.core.forms import BaseForm
from app.documents.reports import SCOPES

ERA_CHOICES = [("1", _l("和暦(例: 令和8年4月1日)")), ("0", _l("西暦(例: 2026年4月1日)"))]


class TemplateUploadForm(BaseForm):
    file = FileField(_l("テンプレート(.xlsx)"), validators=[FileRequired(_l("ファイルを選択してください。"))],
                     render_kw={"accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
    submit = SubmitField(_l("アップロードして使用する"))


class ActionForm(BaseForm):
    """A POST button with only its CSRF token (activate a template, go back to the default)."""


class ApplicationLookupForm(BaseForm):
    class Meta:
        csrf = False

    registrant_id = IntegerField(_l("登録者ID"), validators=[DataRequired(_l("登録者IDを入力してください。")),
                                                          NumberRange(min=1, max=2_000_000_000,
                                                                      message=_l("登録者IDは正の整数です。"))])
    era = RadioField(_l("日付の書き方"), choices=ERA_CHOICES, default="1", validators=[Optional()])


class PeriodForm(BaseForm):
    """GET filter of the reports: a fiscal year (empty: the last 12 months) and, for counts, the registrants counted."""

    class Meta:
        csrf = False

    fiscal_year = SelectField(_l("期間"), validators=[Optional()], validate_choice=True)
    scope = SelectField(_l("対象"), choices=[(key, label) for key, label in SCOPES.items()], default="active",
                        validators=[Optional()], validate_choice=True)

    def __init__(self, years: list[int], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fiscal_year.choices = [("", _l("直近12か月")), *[(str(y), _l("%(year)d年度", year=y)) for y in years]]

    def year(self) -> int | None:
        return int(self.fiscal_year.data) if self.fiscal_year.data else None
