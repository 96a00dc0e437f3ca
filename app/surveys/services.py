"""Surveys (N4) and the satisfaction rating (S5): building, targeting, answering, results, exports.

Staff build a survey (questions of four kinds), publish it to an audience (all active registrants or the
active registrants a saved search finds) for a window; each registrant answers once (the unique
constraint on survey_response settles races). Staff see results only in aggregate unless the survey is
named: free-text answers are listed in text order (not submission order), unnamed exports number the
rows after sorting them by content, so nothing lines a row up with a login or an audit event.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import utcnow
from app.registrants.models import Registrant, RegistrantStatus
from app.searches.models import SavedSearch
from app.searches.services import SearchError, criteria_from_json, matching_ids
from app.surveys.models import (
    Audience,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyKind,
    SurveyOption,
    SurveyQuestion,
    SurveyResponse,
)

log = logging.getLogger("tsunagu.surveys")

TITLE_MAX = 200
DESCRIPTION_MAX = 4000
PROMPT_MAX = 500
HELP_MAX = 500
OPTION_MAX = 200
OPTIONS_MAX = 30
TEXT_ANSWER_MAX = 2000
RATINGS = range(1, 6)
TEXTS_SHOWN = 300  # free-text answers listed on the results page; the answers export has them all
RESPONDENTS_SHOWN = 500
CHOICE_KINDS = frozenset({QuestionKind.SINGLE.value, QuestionKind.MULTIPLE.value})

SATISFACTION_TITLE = "システムの使いやすさ(満足度評価)"
SATISFACTION_PROMPT = "このシステムの使いやすさ"
SATISFACTION_COMMENT = "ご意見・ご感想(任意)"


class SurveyError(ValueError):
    """A refusal with a message for the person who asked (staff or registrant)."""


class State(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


STATE_LABELS = {State.DRAFT: _l("下書き"), State.SCHEDULED: _l("受付前"), State.OPEN: _l("受付中"),
                State.CLOSED: _l("締切")}
KIND_LABELS = {QuestionKind.SINGLE.value: _l("単一選択"), QuestionKind.MULTIPLE.value: _l("複数選択"),
               QuestionKind.RATING.value: _l("5段階評価"), QuestionKind.TEXT.value: _l("自由記述")}
AUDIENCE_LABELS = {Audience.ALL_ACTIVE.value: _l("有効な登録者全員"), Audience.SAVED_SEARCH.value: _l("保存した検索")}

RESTRUCTURE_REFUSED = _l("回答が寄せられているため、設問の追加・削除・並べ替えや、形式・選択肢の数の変更はできません"
                         "(集計が崩れるため)。設問文や選択肢の文言の修正はできます。")
SATISFACTION_FIXED = _l("満足度評価は組み込みのアンケートのため、設定や設問は変更できません。")

AnswerValue = int | list[int] | str | None


# --- state and window ---------------------------------------------------------------------------

def state_of(survey: Survey, now: datetime | None = None) -> State:
    now = now or utcnow()
    if survey.published_at is None:
        return State.DRAFT
    if survey.closes_at is not None and now >= survey.closes_at:
        return State.CLOSED
    if survey.opens_at is not None and now < survey.opens_at:
        return State.SCHEDULED
    return State.OPEN


def _open_at(now: datetime) -> Any:
    """SQL: published, opened and not yet closed at `now`."""
    return sa.and_(Survey.published_at.is_not(None), sa.or_(Survey.opens_at.is_(None), Survey.opens_at <= now),
                   sa.or_(Survey.closes_at.is_(None), Survey.closes_at > now))


# --- audience -----------------------------------------------------------------------------------

def audience_ids(session: Session, survey: Survey) -> sa.Select[Any] | None:
    """A SELECT of the registrant ids the survey is for (always active ones); None when nobody is (a deleted or
    unreadable saved search)."""
    active = Registrant.status == RegistrantStatus.ACTIVE.value
    if survey.audience != Audience.SAVED_SEARCH.value:
        return sa.select(Registrant.id).where(active)
    saved = session.get(SavedSearch, survey.saved_search_id) if survey.saved_search_id else None
    if saved is None:
        return None
    try:
        criteria = criteria_from_json(saved.criteria)
    except SearchError:
        log.warning("survey %s: saved search %s has unreadable criteria; nobody is in the audience", survey.id,
                    saved.id)
        return None
    return matching_ids(session, criteria).where(active)


def target_count(session: Session, survey: Survey) -> int:
    ids = audience_ids(session, survey)
    if ids is None:
        return 0
    return int(session.scalar(sa.select(sa.func.count()).select_from(ids.subquery())) or 0)


def in_audience(session: Session, survey: Survey, registrant_id: int) -> bool:
    ids = audience_ids(session, survey)
    if ids is None:
        return False
    return bool(session.scalar(sa.select(sa.exists(ids.where(Registrant.id == registrant_id)))))


def saved_search_name(session: Session, survey: Survey) -> str | None:
    saved = session.get(SavedSearch, survey.saved_search_id) if survey.saved_search_id else None
    return saved.name if saved else None


# --- staff: the list and the settings -----------------------------------------------------------

def all_surveys(session: Session) -> list[Survey]:
    """Every survey, newest first, the built-in satisfaction rating last."""
    return list(session.scalars(sa.select(Survey).order_by(
        sa.case((Survey.kind == SurveyKind.SATISFACTION.value, 1), else_=0), Survey.created_at.desc(),
        Survey.id.desc())))


def response_counts(session: Session, survey_ids: Iterable[int]) -> dict[int, int]:
    ids = list(survey_ids)
    if not ids:
        return {}
    rows = session.execute(sa.select(SurveyResponse.survey_id, sa.func.count()).where(
        SurveyResponse.survey_id.in_(ids)).group_by(SurveyResponse.survey_id))
    return {survey_id: int(count) for survey_id, count in rows}


def response_count(session: Session, survey: Survey) -> int:
    return response_counts(session, [survey.id]).get(survey.id, 0)


def has_responses(session: Session, survey: Survey) -> bool:
    return bool(session.scalar(sa.select(sa.exists().where(SurveyResponse.survey_id == survey.id))))


SETTING_FIELDS = ("title", "description", "audience", "saved_search_id", "opens_at", "closes_at", "answers_editable",
                  "is_named")


def save_survey(session: Session, actor: Any, survey: Survey | None, values: dict[str, Any],
                ip: str | None) -> Survey:
    """Create (survey None) or change a survey's settings. A named/unnamed switch after the first answer is
    refused: people answered under the other promise."""
    if survey is not None:
        _require_not_satisfaction(survey)
        if bool(values["is_named"]) != survey.is_named and has_responses(session, survey):
            raise SurveyError(str(_l("回答が寄せられているため、記名式・無記名式は変更できません"
                                     "(回答者は回答時の条件で答えています)。")))
    if values["audience"] != Audience.SAVED_SEARCH.value:
        values = {**values, "saved_search_id": None}
    created = survey is None
    if survey is None:
        survey = Survey(kind=SurveyKind.SURVEY.value, created_by_id=getattr(actor, "id", None))
        session.add(survey)
    changed = [name for name in SETTING_FIELDS if getattr(survey, name) != values[name]]
    for name in SETTING_FIELDS:
        setattr(survey, name, values[name])
    session.flush()
    audit.record(session, actor, "survey.create" if created else "survey.update", f"survey:{survey.id}",
                 {"changed": changed}, ip)
    return survey


def publish(session: Session, actor: Any, survey: Survey, ip: str | None) -> None:
    if not survey.questions:
        raise SurveyError(str(_l("設問がないため公開できません。設問を追加してください。")))
    if survey.audience == Audience.SAVED_SEARCH.value and audience_ids(session, survey) is None:
        raise SurveyError(str(_l("対象の保存した検索が見つからないため公開できません。設定で対象を選び直してください。")))
    survey.published_at = utcnow()
    audit.record(session, actor, "survey.publish", f"survey:{survey.id}", {}, ip)


def unpublish(session: Session, actor: Any, survey: Survey, ip: str | None) -> None:
    _require_not_satisfaction(survey)
    survey.published_at = None
    audit.record(session, actor, "survey.unpublish", f"survey:{survey.id}", {}, ip)


def delete_survey(session: Session, actor: Any, survey: Survey, ip: str | None) -> None:
    _require_not_satisfaction(survey)
    if has_responses(session, survey):
        raise SurveyError(str(_l("回答が寄せられているアンケートは削除できません。公開をやめることはできます。")))
    survey_id = survey.id
    session.delete(survey)
    session.flush()
    audit.record(session, actor, "survey.delete", f"survey:{survey_id}", {}, ip)


def _require_not_satisfaction(survey: Survey) -> None:
    if survey.kind == SurveyKind.SATISFACTION.value:
        raise SurveyError(str(SATISFACTION_FIXED))


# --- staff: the question builder ----------------------------------------------------------------

def require_restructurable(session: Session, survey: Survey) -> None:
    _require_not_satisfaction(survey)
    if has_responses(session, survey):
        raise SurveyError(str(RESTRUCTURE_REFUSED))


def add_question(session: Session, actor: Any, survey: Survey, *, kind: str, prompt: str, help_text: str | None,
                 is_required: bool, options: list[str], ip: str | None) -> SurveyQuestion:
    require_restructurable(session, survey)
    position = max((q.position for q in survey.questions), default=0) + 1
    question = SurveyQuestion(kind=kind, prompt=prompt, help_text=help_text or None, is_required=is_required,
                              position=position)
    question.options = _new_options(kind, options)
    survey.questions.append(question)
    session.flush()
    audit.record(session, actor, "survey.question_add", f"survey:{survey.id}",
                 {"question_id": question.id, "kind": kind}, ip)
    return question


def update_question(session: Session, actor: Any, question: SurveyQuestion, *, kind: str, prompt: str,
                    help_text: str | None, is_required: bool, options: list[str], ip: str | None) -> None:
    """Wording (prompt, help, option labels, the required flag) may always change; once answered, the kind and the
    number of options may not, since stored answers point at the options by id."""
    survey = question.survey
    _require_not_satisfaction(survey)
    wanted = options if kind in CHOICE_KINDS else []
    structural = kind != question.kind or len(wanted) != len(question.options)
    if structural and has_responses(session, survey):
        raise SurveyError(str(RESTRUCTURE_REFUSED))
    question.kind, question.prompt, question.help_text = kind, prompt, help_text or None
    question.is_required = is_required
    for option, label in zip(question.options, wanted, strict=False):
        option.label = label
    if len(wanted) < len(question.options):
        del question.options[len(wanted):]
    for position, label in enumerate(wanted[len(question.options):], start=len(question.options) + 1):
        question.options.append(SurveyOption(label=label, position=position))
    session.flush()
    audit.record(session, actor, "survey.question_update", f"survey:{survey.id}",
                 {"question_id": question.id, "kind": kind}, ip)


def delete_question(session: Session, actor: Any, question: SurveyQuestion, ip: str | None) -> None:
    survey = question.survey
    require_restructurable(session, survey)
    question_id = question.id
    survey.questions.remove(question)
    for position, remaining in enumerate(survey.questions, start=1):
        remaining.position = position
    session.flush()
    audit.record(session, actor, "survey.question_delete", f"survey:{survey.id}", {"question_id": question_id}, ip)


def move_question(session: Session, actor: Any, question: SurveyQuestion, direction: str, ip: str | None) -> bool:
    """Swap with the neighbour above ('up') or below ('down'); False when already at that end."""
    survey = question.survey
    require_restructurable(session, survey)
    ordered = list(survey.questions)
    index = ordered.index(question)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(ordered):
        return False
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, item in enumerate(ordered, start=1):
        item.position = position
    session.flush()
    session.expire(survey, ["questions"])
    audit.record(session, actor, "survey.question_move", f"survey:{survey.id}",
                 {"question_id": question.id, "direction": direction}, ip)
    return True


def _new_options(kind: str, labels: list[str]) -> list[SurveyOption]:
    if kind not in CHOICE_KINDS:
        return []
    return [SurveyOption(label=label, position=position) for position, label in enumerate(labels, start=1)]


# --- registrants: what is open to me, answering -------------------------------------------------

@dataclass
class MySurvey:
    survey: Survey
    response: SurveyResponse | None

    @property
    def answered(self) -> bool:
        return self.response is not None


def surveys_for(session: Session, registrant: Any, now: datetime | None = None) -> list[MySurvey]:
    """Open surveys (not the satisfaction rating) whose audience includes the registrant, soonest closing first."""
    now = now or utcnow()
    candidates = session.scalars(sa.select(Survey).where(_open_at(now), Survey.kind == SurveyKind.SURVEY.value)
                                 .order_by(Survey.closes_at.is_(None), Survey.closes_at, Survey.id.desc())).all()
    mine = [survey for survey in candidates if in_audience(session, survey, registrant.id)]
    responses = {r.survey_id: r for r in session.scalars(sa.select(SurveyResponse).where(
        SurveyResponse.registrant_id == registrant.id, SurveyResponse.survey_id.in_([s.id for s in mine])))} \
        if mine else {}
    return [MySurvey(survey, responses.get(survey.id)) for survey in mine]


def open_for(session: Session, registrant: Any) -> list[Survey]:
    """For the portal top page: open surveys in the registrant's audience they have not answered yet."""
    return [item.survey for item in surveys_for(session, registrant) if not item.answered]


def response_of(session: Session, survey_id: int, registrant_id: int) -> SurveyResponse | None:
    return session.scalar(sa.select(SurveyResponse).where(SurveyResponse.survey_id == survey_id,
                                                          SurveyResponse.registrant_id == registrant_id))


def visible_to(session: Session, survey: Survey | None, registrant: Any, now: datetime | None = None) -> bool:
    """Whether the registrant may open the survey's page at all (published, opened, in the audience)."""
    if survey is None or state_of(survey, now) in (State.DRAFT, State.SCHEDULED):
        return False
    return in_audience(session, survey, registrant.id)


def answer_refusal(session: Session, survey: Survey, registrant: Any, now: datetime | None = None) -> str | None:
    """Why this registrant cannot (re)submit answers now, or None."""
    if state_of(survey, now) == State.CLOSED:
        return str(_l("このアンケートは締め切りました。回答の受付は終了しています。"))
    if state_of(survey, now) != State.OPEN or not in_audience(session, survey, registrant.id):
        return str(_l("このアンケートには回答できません。"))
    if not survey.answers_editable and response_of(session, survey.id, registrant.id) is not None:
        return str(ALREADY_ANSWERED)
    return None


ALREADY_ANSWERED = _l("このアンケートには回答済みです。このアンケートでは回答の修正はできません。")


def save_response(session: Session, survey: Survey, registrant: Any, values: dict[int, AnswerValue],
                  ip: str | None, now: datetime | None = None) -> bool:
    """Store the registrant's answers; True when an earlier response was changed, False for a first answer.

    SurveyError when answering is not allowed (closed, not in the audience, already answered and not editable)
    or an answer does not fit its question (a tampered form).
    """
    now = now or utcnow()
    refusal = answer_refusal(session, survey, registrant, now)
    if refusal:
        raise SurveyError(refusal)
    rows = _answer_rows(survey, values)
    response = response_of(session, survey.id, registrant.id)
    edited = response is not None
    if response is None:
        response = new_response(session, survey.id, registrant.id, now)
        if response is None:  # a parallel submit of the same registrant got there first
            if not survey.answers_editable:
                raise SurveyError(str(ALREADY_ANSWERED))
            response, edited = response_of(session, survey.id, registrant.id), True
            assert response is not None
    if edited:
        session.execute(sa.delete(SurveyAnswer).where(SurveyAnswer.response_id == response.id))
        response.updated_at = now
    session.add_all(SurveyAnswer(response_id=response.id, **row) for row in rows)
    session.flush()
    audit.record(session, registrant, "survey.answer", f"survey:{survey.id}", {"edited": edited}, ip)
    return edited


def new_response(session: Session, survey_id: int, registrant_id: int, now: datetime) -> SurveyResponse | None:
    """Insert the registrant's response row; None when one already exists (the unique constraint refused it)."""
    response = SurveyResponse(survey_id=survey_id, registrant_id=registrant_id, submitted_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(response)
            session.flush()
    except IntegrityError:
        log.info("survey %s: a second response of registrant %s was refused by the unique constraint", survey_id,
                 registrant_id)
        return None
    return response


def _answer_rows(survey: Survey, values: dict[int, AnswerValue]) -> list[dict[str, Any]]:
    """The survey_answer rows for `values` (question id -> value), checked against the questions."""
    rows: list[dict[str, Any]] = []
    for question in survey.questions:
        value = values.get(question.id)
        if value in (None, "", []):
            if question.is_required:
                raise SurveyError(str(_l("必須の設問「%(prompt)s」に回答してください。", prompt=question.prompt)))
            continue
        rows.extend(_rows_for(question, value))
    return rows


def _rows_for(question: SurveyQuestion, value: AnswerValue) -> list[dict[str, Any]]:
    bad = SurveyError(str(_l("回答の内容が正しくありません。画面を開き直して、もう一度回答してください。")))
    known = {option.id for option in question.options}
    if question.kind == QuestionKind.SINGLE.value:
        if not isinstance(value, int) or value not in known:
            raise bad
        return [{"question_id": question.id, "option_id": value}]
    if question.kind == QuestionKind.MULTIPLE.value:
        chosen = value if isinstance(value, list) else [value]
        if not all(isinstance(item, int) and item in known for item in chosen):
            raise bad
        return [{"question_id": question.id, "option_id": item} for item in sorted(set(chosen))]  # type: ignore[type-var]
    if question.kind == QuestionKind.RATING.value:
        if not isinstance(value, int) or isinstance(value, bool) or value not in RATINGS:
            raise bad
        return [{"question_id": question.id, "rating": value}]
    if not isinstance(value, str) or len(value) > TEXT_ANSWER_MAX:
        raise bad
    return [{"question_id": question.id, "text": value}]


def current_values(session: Session, response: SurveyResponse | None) -> dict[int, AnswerValue]:
    """The registrant's stored answers as question id -> value (for prefilling the form)."""
    if response is None:
        return {}
    values: dict[int, Any] = {}
    rows = session.execute(sa.select(SurveyAnswer.question_id, SurveyQuestion.kind, SurveyAnswer.option_id,
                                     SurveyAnswer.rating, SurveyAnswer.text)
                           .join(SurveyQuestion, SurveyQuestion.id == SurveyAnswer.question_id)
                           .where(SurveyAnswer.response_id == response.id).order_by(SurveyAnswer.id))
    for question_id, kind, option_id, rating, text in rows:
        if kind == QuestionKind.MULTIPLE.value:
            values.setdefault(question_id, []).append(option_id)
        elif kind == QuestionKind.SINGLE.value:
            values[question_id] = option_id
        elif kind == QuestionKind.RATING.value:
            values[question_id] = rating
        else:
            values[question_id] = text
    return values


# --- the satisfaction rating (S5) ---------------------------------------------------------------

def satisfaction_survey(session: Session) -> Survey:
    """The built-in satisfaction rating, created on first use: one rating question and an optional comment,
    always open, editable, unnamed, for all active registrants."""
    existing = _satisfaction(session)
    if existing is not None:
        return existing
    survey = Survey(kind=SurveyKind.SATISFACTION.value, title=SATISFACTION_TITLE, audience=Audience.ALL_ACTIVE.value,
                    description="このシステムの使いやすさを5段階で評価してください(5がもっとも使いやすい)。",
                    answers_editable=True, is_named=False, published_at=utcnow())
    survey.questions = [
        SurveyQuestion(kind=QuestionKind.RATING.value, prompt=SATISFACTION_PROMPT, is_required=True, position=1,
                       help_text="1=使いにくい、5=使いやすい"),
        SurveyQuestion(kind=QuestionKind.TEXT.value, prompt=SATISFACTION_COMMENT, is_required=False, position=2)]
    session.add(survey)
    session.flush()
    audit.record(session, audit.SYSTEM, "survey.create", f"survey:{survey.id}", {"kind": SurveyKind.SATISFACTION}, None)
    return survey


def _satisfaction(session: Session) -> Survey | None:
    # Two first uses at the same moment could each create one; the oldest is the one everybody uses.
    return session.scalar(sa.select(Survey).where(Survey.kind == SurveyKind.SATISFACTION.value)
                          .order_by(Survey.id).limit(1))


def _rating_question(survey: Survey) -> SurveyQuestion:
    return next(q for q in survey.questions if q.kind == QuestionKind.RATING.value)


@dataclass
class SatisfactionState:
    eligible: bool
    rating: int | None = None
    survey_id: int | None = None


def satisfaction_state(session: Session, registrant: Any) -> SatisfactionState:
    """What the footer shows: whether the registrant may rate, and their current rating."""
    if getattr(registrant, "status", None) != RegistrantStatus.ACTIVE.value:
        return SatisfactionState(eligible=False)
    survey = _satisfaction(session)
    if survey is None:
        return SatisfactionState(eligible=True)
    rating = session.scalar(sa.select(SurveyAnswer.rating).join(SurveyResponse).where(
        SurveyResponse.survey_id == survey.id, SurveyResponse.registrant_id == registrant.id,
        SurveyAnswer.rating.is_not(None)).limit(1))
    return SatisfactionState(eligible=True, rating=rating, survey_id=survey.id)


def rate(session: Session, registrant: Any, rating: int, ip: str | None) -> None:
    """Set the registrant's satisfaction rating (first time or again); an earlier comment stays."""
    if isinstance(rating, bool) or rating not in RATINGS:
        raise SurveyError(str(_l("1〜5の中から評価を選んでください。")))
    survey = satisfaction_survey(session)
    values = current_values(session, response_of(session, survey.id, registrant.id))
    values[_rating_question(survey).id] = rating
    save_response(session, survey, registrant, values, ip)


def satisfaction_summary(session: Session, start: datetime, end: datetime) -> tuple[int, float | None]:
    """(number of ratings, mean rating) for satisfaction ratings submitted or last changed in [start, end) (UTC)."""
    count, mean = session.execute(
        sa.select(sa.func.count(SurveyAnswer.id), sa.func.avg(SurveyAnswer.rating))
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(Survey.kind == SurveyKind.SATISFACTION.value, SurveyAnswer.rating.is_not(None),
               SurveyResponse.updated_at >= start, SurveyResponse.updated_at < end)).one()
    return int(count or 0), (round(float(mean), 2) if count else None)


def response_rates(session: Session, start: datetime, end: datetime) -> list[tuple[int, str, int, int]]:
    """(survey id, title, target count, responses) for every published survey (not the satisfaction rating)
    whose answering window overlaps [start, end) (UTC). The target is the audience as it is now; responses are
    all responses the survey has."""
    opened = sa.func.coalesce(Survey.opens_at, Survey.published_at)
    surveys = session.scalars(sa.select(Survey).where(
        Survey.kind == SurveyKind.SURVEY.value, Survey.published_at.is_not(None), opened < end,
        sa.or_(Survey.closes_at.is_(None), Survey.closes_at > start)).order_by(opened, Survey.id)).all()
    counts = response_counts(session, [s.id for s in surveys])
    return [(s.id, s.title, target_count(session, s), counts.get(s.id, 0)) for s in surveys]


# --- results (aggregated in SQL) ----------------------------------------------------------------

@dataclass
class QuestionResult:
    question: SurveyQuestion
    answered: int = 0
    counts: list[tuple[str, int]] = field(default_factory=list)  # (option or rating label, respondents)
    mean: float | None = None
    texts: list[str] = field(default_factory=list)
    texts_total: int = 0


@dataclass
class Results:
    survey: Survey
    target: int
    responses: int
    questions: list[QuestionResult]

    @property
    def rate(self) -> float | None:
        return self.responses / self.target * 100 if self.target else None


def results(session: Session, survey: Survey, texts_shown: int = TEXTS_SHOWN) -> Results:
    questions = list(survey.questions)
    ids = [q.id for q in questions]
    answered: dict[int, int] = {}
    by_option: dict[int, int] = {}
    by_rating: dict[tuple[int, int], int] = {}
    texts: dict[int, list[str]] = defaultdict(list)
    text_totals: dict[int, int] = {}
    if ids:
        answered = dict(session.execute(  # type: ignore[arg-type]
            sa.select(SurveyAnswer.question_id, sa.func.count(sa.distinct(SurveyAnswer.response_id)))
            .where(SurveyAnswer.question_id.in_(ids)).group_by(SurveyAnswer.question_id)).all())
        by_option = dict(session.execute(  # type: ignore[arg-type]
            sa.select(SurveyAnswer.option_id, sa.func.count())
            .where(SurveyAnswer.question_id.in_(ids), SurveyAnswer.option_id.is_not(None))
            .group_by(SurveyAnswer.option_id)).all())
        by_rating = {(question_id, rating): count for question_id, rating, count in session.execute(
            sa.select(SurveyAnswer.question_id, SurveyAnswer.rating, sa.func.count())
            .where(SurveyAnswer.question_id.in_(ids), SurveyAnswer.rating.is_not(None))
            .group_by(SurveyAnswer.question_id, SurveyAnswer.rating))}
        for question in questions:
            if question.kind == QuestionKind.TEXT.value:
                text_totals[question.id] = answered.get(question.id, 0)
                texts[question.id] = list(session.scalars(
                    sa.select(SurveyAnswer.text).where(SurveyAnswer.question_id == question.id,
                                                       SurveyAnswer.text.is_not(None))
                    .order_by(SurveyAnswer.text).limit(texts_shown)))
    out = []
    for question in questions:
        result = QuestionResult(question, answered=int(answered.get(question.id, 0)))
        if question.kind in CHOICE_KINDS:
            result.counts = [(option.label, int(by_option.get(option.id, 0))) for option in question.options]
        elif question.kind == QuestionKind.RATING.value:
            result.counts = [(str(value), int(by_rating.get((question.id, value), 0))) for value in RATINGS]
            total = sum(count for _label, count in result.counts)
            if total:
                result.mean = round(sum(int(label) * count for label, count in result.counts) / total, 2)
        else:
            result.texts, result.texts_total = texts[question.id], text_totals.get(question.id, 0)
        out.append(result)
    return Results(survey, target_count(session, survey), response_count(session, survey), out)


@dataclass
class Respondent:
    registrant_id: int
    name: str
    submitted_at: datetime
    updated_at: datetime


def respondents(session: Session, survey: Survey, limit: int = RESPONDENTS_SHOWN) -> list[Respondent]:
    """Who answered: only for a named survey (SurveyError otherwise: staff see unnamed surveys in aggregate)."""
    if not survey.is_named:
        raise SurveyError(str(_l("無記名のアンケートでは回答者は表示しません。")))
    rows = session.execute(sa.select(SurveyResponse.registrant_id, Registrant.family_name, Registrant.given_name,
                                     SurveyResponse.submitted_at, SurveyResponse.updated_at)
                           .join(Registrant, Registrant.id == SurveyResponse.registrant_id)
                           .where(SurveyResponse.survey_id == survey.id)
                           .order_by(SurveyResponse.submitted_at, SurveyResponse.id).limit(limit))
    return [Respondent(rid, f"{family} {given}", submitted, updated) for rid, family, given, submitted, updated in rows]
