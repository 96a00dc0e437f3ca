"""Forms of the job posting screens. Date-times are typed in Tokyo time; codes are posted as ids.

The forms check shape (types, lengths); what the values mean together (codes that may be chosen,
end before start, zero openings) is checked by `services.check`, whose messages the view puts on
the same fields.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.codes.models import Code, CodeKind
from app.codes.services import codes_of_kind, selectable
from app.core.forms import BaseForm, strip_filter
from app.postings import services
from app.postings.models import PostingStatus

DATE_MESSAGE = _l("日付を「2026-04-01」の形で入力してください。")
DATETIME_MESSAGE = _l("日時を正しく入力してください。")


def code_id(value: Any) -> int:
    """A posted code id; 0 for none, -1 for anything that is not a number (then refused as unknown)."""
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _too_long(limit: int) -> Length:
    return Length(max=limit, message=_l("%(n)d文字以内で入力してください。", n=limit))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _code_choices(codes: list[Code]) -> list[tuple[int, str]]:
    return [(code.id, code.label) for code in codes]


class PostingForm(BaseForm):
    title = StringField(_l("件名"), filters=[strip_filter],
                        validators=[InputRequired(_l("入力してください。")), _too_long(services.TITLE_MAX)])
    school_name = StringField(_l("学校名"), filters=[strip_filter],
                              validators=[InputRequired(_l("入力してください。")), _too_long(services.SCHOOL_MAX)])
    school_type = SelectField(_l("校種"), coerce=code_id, validate_choice=False)
    region = SelectField(_l("所在地(市町村)"), coerce=code_id, validate_choice=False)
    job_type = SelectField(_l("職種"), coerce=code_id, validate_choice=False)
    employment_type = SelectField(_l("任用形態"), coerce=code_id, validate_choice=False)
    subjects = MultiCheckboxField(_l("教科"), coerce=code_id, validate_choice=False)
    required_licences = MultiCheckboxField(_l("必須の免許(いずれか1つ)"), coerce=code_id, validate_choice=False)
    preferred_licences = MultiCheckboxField(_l("歓迎する免許"), coerce=code_id, validate_choice=False)
    period_start = DateField(_l("勤務期間(開始日)"), validators=[InputRequired(_l("入力してください。"))])
    period_end = DateField(_l("勤務期間(終了日)"), validators=[Optional()])
    days_hours = StringField(_l("勤務日・時間"), filters=[strip_filter],
                             validators=[Optional(), _too_long(services.DAYS_HOURS_MAX)])
    openings = IntegerField(_l("募集人数"), default=1, validators=[InputRequired(_l("入力してください。"))])
    description = TextAreaField(_l("仕事の内容・条件"), validators=[Optional(), _too_long(services.DESCRIPTION_MAX)])
    contact = TextAreaField(_l("問い合わせ先"), validators=[Optional(), _too_long(services.CONTACT_MAX)])
    publish_from = DateTimeLocalField(_l("掲載開始日時"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    publish_until = DateTimeLocalField(_l("掲載終了日時"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    show_in_portal = BooleanField(_l("募集中の間、登録者ページに掲載する"), default=True)
    submit = SubmitField(_l("保存"))

    def load_choices(self, session: Session, keep_ids: set[int] | None = None) -> None:
        """Codes that may be chosen today, plus those the posting already has (so editing keeps them)."""
        keep = keep_ids or set()

        def choices(kind: CodeKind) -> list[tuple[int, str]]:
            return _code_choices(selectable(session, kind, keep_ids=keep))

        pick = (0, str(_l("選択してください")))
        self.school_type.choices = [pick, *choices(CodeKind.SCHOOL_TYPE)]
        self.region.choices = [pick, *choices(CodeKind.REGION)]
        self.job_type.choices = [pick, *choices(CodeKind.JOB_TYPE)]
        self.employment_type.choices = [(0, str(_l("指定なし"))), *choices(CodeKind.EMPLOYMENT_TYPE)]
        self.subjects.choices = choices(CodeKind.SUBJECT)
        self.required_licences.choices = choices(CodeKind.LICENCE)
        self.preferred_licences.choices = choices(CodeKind.LICENCE)

    def fill_from(self, values: services.PostingValues, to_local: Any) -> None:
        for name in ("title", "school_name", "school_type", "region", "job_type", "employment_type", "subjects",
                     "required_licences", "preferred_licences", "period_start", "period_end", "openings",
                     "show_in_portal"):
            self[name].data = getattr(values, name)
        for name in ("days_hours", "description", "contact"):
            self[name].data = getattr(values, name) or ""
        self.employment_type.data = values.employment_type or 0
        self.publish_from.data = to_local(values.publish_from)
        self.publish_until.data = to_local(values.publish_until)

    def values(self, to_utc: Any) -> services.PostingValues:
        """What was typed, as far as it could be read (a field with a format error gives None)."""

        def ok(name: str) -> Any:
            return None if self[name].errors else self[name].data

        return services.PostingValues(
            title=self.title.data or "", school_name=self.school_name.data or "",
            school_type=self.school_type.data, region=self.region.data, job_type=self.job_type.data,
            employment_type=self.employment_type.data or None,
            subjects=list(self.subjects.data or []), required_licences=list(self.required_licences.data or []),
            preferred_licences=list(self.preferred_licences.data or []),
            period_start=ok("period_start"), period_end=ok("period_end"), days_hours=self.days_hours.data,
            openings=ok("openings"), description=self.description.data, contact=self.contact.data,
            publish_from=to_utc(ok("publish_from")), publish_until=to_utc(ok("publish_until")),
            show_in_portal=bool(self.show_in_portal.data))


class PostingSearchForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(_l("件名・学校名"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    status = SelectField(_l("状態"), validators=[Optional()])
    region = SelectField(_l("市町村"), coerce=code_id, validators=[Optional()])
    job_type = SelectField(_l("職種"), coerce=code_id, validators=[Optional()])
    school_type = SelectField(_l("校種"), coerce=code_id, validators=[Optional()])
    subject = SelectField(_l("教科"), coerce=code_id, validators=[Optional()])
    period_from = DateField(_l("勤務期間(から)"), validators=[Optional()])
    period_to = DateField(_l("勤務期間(まで)"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])

    def load_choices(self, session: Session) -> None:
        everything = [(0, str(_l("すべて")))]
        self.status.choices = [("", str(_l("すべて"))), *[(k, str(v)) for k, v in services.STATUS_LABELS.items()]]
        # every code, retired ones too: old postings must stay findable
        for name, kind in (("region", CodeKind.REGION), ("job_type", CodeKind.JOB_TYPE),
                           ("school_type", CodeKind.SCHOOL_TYPE), ("subject", CodeKind.SUBJECT)):
            self[name].choices = everything + _code_choices(_all_codes(session, kind))


def _all_codes(session: Session, kind: CodeKind) -> list[Code]:
    return codes_of_kind(session, kind.value)


class StatusForm(BaseForm):
    to = HiddenField(validators=[AnyOf([PostingStatus.OPEN.value, PostingStatus.CLOSED.value,
                                        PostingStatus.FILLED.value])])


class ActionForm(BaseForm):
    """Only the CSRF token (copy)."""
