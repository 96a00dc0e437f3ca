"""Forms of the survey builder, the answer form built from a survey's questions, and the footer rating."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    Field,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.forms import BaseForm, strip_filter
from app.surveys import services
from app.surveys.models import Audience, QuestionKind, Survey, SurveyQuestion

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
REQUIRED = _l("入力してください。")


def _plausible(form: Any, field: Field) -> None:
    """A year far outside this century would overflow the Tokyo-to-UTC conversion."""
    if field.data and not datetime(2000, 1, 1) <= field.data <= datetime(2999, 12, 31):
        raise ValidationError(_l("2000年から2999年までの日時を入力してください。"))


class SurveyForm(BaseForm):
    title = StringField(_l("タイトル"), filters=[strip_filter],
                        validators=[DataRequired(REQUIRED), Length(max=services.TITLE_MAX)])
    description = TextAreaField(_l("説明文"), validators=[Optional(), Length(max=services.DESCRIPTION_MAX)])
    audience = RadioField(_l("対象"), default=Audience.ALL_ACTIVE.value,
                          choices=[(key, label) for key, label in services.AUDIENCE_LABELS.items()],
                          validators=[DataRequired(_l("対象を選んでください。"))])
    saved_search = SelectField(_l("保存した検索"), coerce=int, validators=[Optional()])
    opens_at = DateTimeLocalField(_l("受付開始日時"), format=DATETIME_FORMAT, validators=[Optional(), _plausible])
    closes_at = DateTimeLocalField(_l("締切日時"), format=DATETIME_FORMAT, validators=[Optional(), _plausible])
    answers_editable = BooleanField(_l("締切まで回答を修正できる"), default=True)
    is_named = BooleanField(_l("記名式にする(職員が回答者ごとの回答を見られる)"))
    submit = SubmitField(_l("保存"))

    def validate_saved_search(self, field: Field) -> None:
        if self.audience.data == Audience.SAVED_SEARCH.value and not field.data:
            raise ValidationError(_l("対象にする保存した検索を選んでください。"))

    def validate_closes_at(self, field: Field) -> None:
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("締切日時は受付開始日時より後にしてください。"))


class QuestionForm(BaseForm):
    kind = SelectField(_l("形式"), choices=[(key, label) for key, label in services.KIND_LABELS.items()],
                       validators=[DataRequired(_l("形式を選んでください。"))])
    prompt = StringField(_l("設問文"), filters=[strip_filter],
                         validators=[DataRequired(REQUIRED), Length(max=services.PROMPT_MAX)])
    help_text = StringField(_l("補足説明"), filters=[strip_filter],
                            validators=[Optional(), Length(max=services.HELP_MAX)])
    is_required = BooleanField(_l("回答必須"))
    options = TextAreaField(_l("選択肢(1行に1つ)"),
                            validators=[Optional(), Length(max=services.OPTIONS_MAX * (services.OPTION_MAX + 2))])
    submit = SubmitField(_l("保存"))

    def option_labels(self) -> list[str]:
        if self.kind.data not in services.CHOICE_KINDS:
            return []
        return [line.strip() for line in (self.options.data or "").splitlines() if line.strip()]

    def validate_options(self, field: Field) -> None:
        if self.kind.data not in services.CHOICE_KINDS:
            return
        labels = self.option_labels()
        if len(labels) < 2:
            raise ValidationError(_l("選択式の設問には選択肢を2つ以上、1行に1つずつ入力してください。"))
        if len(labels) > services.OPTIONS_MAX:
            raise ValidationError(_l("選択肢は%(max)d個までです。", max=services.OPTIONS_MAX))
        if any(len(label) > services.OPTION_MAX for label in labels):
            raise ValidationError(_l("選択肢は1つ%(max)d文字以内にしてください。", max=services.OPTION_MAX))
        if len(set(labels)) != len(labels):
            raise ValidationError(_l("同じ選択肢が2回以上あります。"))


class MoveForm(BaseForm):
    direction = SelectField(choices=[("up", _l("上へ")), ("down", _l("下へ"))], validators=[DataRequired()])


# --- answering -----------------------------------------------------------------------------------

def choice_id(value: Any) -> int | None:
    """A submitted option id or rating; junk becomes -1, which no choice has (a tampered form gets a message)."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else -1


class _Answered:
    """Required questions must be answered; an unanswered optional one skips the other checks."""

    def __init__(self, required: bool) -> None:
        self.required = required
        self.field_flags = {"required": True} if required else {}

    def __call__(self, form: Any, field: Field) -> None:
        data = field.data
        if data is None or data == [] or (isinstance(data, str) and not data.strip()):
            field.errors[:] = []
            if self.required:
                raise StopValidation(str(_l("この設問は回答必須です。")))
            raise StopValidation()


class _KnownChoice:
    def __init__(self, allowed: set[int]) -> None:
        self.allowed = allowed

    def __call__(self, form: Any, field: Field) -> None:
        chosen = field.data if isinstance(field.data, list) else [field.data]
        if not all(item in self.allowed for item in chosen) or len(chosen) > len(self.allowed):
            raise ValidationError(_l("選択肢の中から選んでください。"))


def _newlines(value: Any) -> Any:
    """Browsers send CRLF; one line break is one character, as the 2000-character limit counts it."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


def field_name(question: SurveyQuestion) -> str:
    return f"q{question.id}"


RATING_CHOICES = [(value, str(value)) for value in services.RATINGS]


def _answer_field(question: SurveyQuestion) -> Field:
    answered = _Answered(question.is_required)
    text = {"description": question.help_text or ""}
    if question.kind == QuestionKind.SINGLE.value:
        return RadioField(question.prompt, choices=[(o.id, o.label) for o in question.options], coerce=choice_id,
                          validate_choice=False, validators=[answered, _KnownChoice({o.id for o in question.options})],
                          **text)
    if question.kind == QuestionKind.MULTIPLE.value:
        return SelectMultipleField(question.prompt, choices=[(o.id, o.label) for o in question.options],
                                   coerce=choice_id, validate_choice=False, widget=ListWidget(prefix_label=False),
                                   option_widget=CheckboxInput(),
                                   validators=[answered, _KnownChoice({o.id for o in question.options})], **text)
    if question.kind == QuestionKind.RATING.value:
        return RadioField(question.prompt, choices=RATING_CHOICES, coerce=choice_id, validate_choice=False,
                          validators=[answered, _KnownChoice(set(services.RATINGS))], **text)
    return TextAreaField(question.prompt, filters=[_newlines, strip_filter], validators=[
        answered, Length(max=services.TEXT_ANSWER_MAX,
                         message=_l("%(max)d文字以内で入力してください。", max=services.TEXT_ANSWER_MAX))], **text)


def answer_form(survey: Survey, values: dict[int, Any] | None = None) -> Any:
    """A form with one field per question (named q<id>), prefilled with `values` (question id -> value) on GET."""

    class AnswerForm(BaseForm):
        pass

    for question in survey.questions:
        setattr(AnswerForm, field_name(question), _answer_field(question))
    AnswerForm.submit = SubmitField(_l("回答を送信"))
    data = {field_name(q): (values or {}).get(q.id) for q in survey.questions}
    return AnswerForm(data=data)


def answer_values(survey: Survey, form: Any) -> dict[int, Any]:
    return {question.id: form[field_name(question)].data for question in survey.questions}


class RateForm(BaseForm):
    rating = RadioField(_l("評価"), choices=RATING_CHOICES, coerce=choice_id, validate_choice=False,
                        validators=[_Answered(True), _KnownChoice(set(services.RATINGS))])
    next = HiddenField(validators=[Optional(), Length(max=500)])
