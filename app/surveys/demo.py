"""Demo surveys: one open (answered by about 40% of the demo registrants), one closed, and satisfaction ratings
from about 30%. The demo login registrant@example.com is left unanswered so a visitor can try both."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.timeutil import utcnow
from app.registrants.models import Registrant, RegistrantStatus
from app.staff.models import StaffUser
from app.surveys import services
from app.surveys.models import QuestionKind, Survey, SurveyAnswer, SurveyOption, SurveyQuestion, SurveyResponse

OPEN_TITLE = "OB・OG交流会についてのアンケート"
CLOSED_TITLE = "今年度の研修についてのアンケート"
KEEP_UNANSWERED = "registrant@example.com"

OPEN_QUESTIONS: list[tuple[str, str, bool, list[str]]] = [
    (QuestionKind.SINGLE, "交流会に参加したいですか", True, ["ぜひ参加したい", "都合が合えば参加したい", "参加しない"]),
    (QuestionKind.MULTIPLE, "参加しやすい曜日・時間帯(複数選択可)", False,
     ["平日の昼", "平日の夜", "土曜日", "日曜日・祝日", "オンラインなら参加できる"]),
    (QuestionKind.RATING, "前回の交流会の満足度", False, []),
    (QuestionKind.TEXT, "交流会で取り上げてほしい話題", False, []),
]
CLOSED_QUESTIONS: list[tuple[str, str, bool, list[str]]] = [
    (QuestionKind.SINGLE, "研修の内容は役に立ちましたか", True, ["とても役に立った", "役に立った", "あまり役に立たなかった"]),
    (QuestionKind.RATING, "研修全体の満足度", True, []),
]
TOPICS = ["授業づくりの工夫", "ICTの活用", "地域との連携", "若手教員の育成", "働き方の工夫", "特別支援教育"]
COMMENTS = ["画面が見やすいです。", "スマートフォンでも使いやすいです。", "お知らせがもう少し多いとうれしいです。"]


def load(session: Session, rng: random.Random) -> None:
    if session.scalar(sa.select(sa.func.count()).select_from(Survey).where(Survey.title == OPEN_TITLE)):
        return
    now = utcnow().replace(microsecond=0)
    staff_id = session.scalar(sa.select(StaffUser.id).order_by(StaffUser.id).limit(1))
    people = list(session.execute(sa.select(Registrant.id, Registrant.email).where(
        Registrant.source == "demo", Registrant.status == RegistrantStatus.ACTIVE.value).order_by(Registrant.id)))
    others = [rid for rid, email in people if email != KEEP_UNANSWERED]
    open_survey = _survey(session, OPEN_TITLE, OPEN_QUESTIONS, staff_id, opens=now - timedelta(days=10),
                          closes=now + timedelta(days=20),
                          description="秋に予定しているOB・OG交流会の企画の参考にします。5分ほどで回答できます。")
    closed = _survey(session, CLOSED_TITLE, CLOSED_QUESTIONS, staff_id, opens=now - timedelta(days=75),
                     closes=now - timedelta(days=45), description="今年度の研修についてご意見をお聞かせください。")
    _answer(session, open_survey, rng.sample(others, round(len(others) * 0.4)), rng, now - timedelta(days=9), now)
    _answer(session, closed, rng.sample(others, round(len(others) * 0.5)), rng, now - timedelta(days=74),
            now - timedelta(days=46))
    satisfaction = services.satisfaction_survey(session)
    satisfaction.published_at = now - timedelta(days=90)
    _answer(session, satisfaction, rng.sample(others, round(len(others) * 0.3)), rng, now - timedelta(days=89), now)
    session.flush()


def _survey(session: Session, title: str, questions: list[tuple[str, str, bool, list[str]]], staff_id: int | None,
            *, opens: Any, closes: Any, description: str) -> Survey:
    survey = Survey(title=title, description=description, opens_at=opens, closes_at=closes, published_at=opens,
                    created_by_id=staff_id, created_at=opens - timedelta(days=3), answers_editable=True)
    survey.questions = [
        SurveyQuestion(kind=str(kind), prompt=prompt, is_required=required, position=position,
                       options=[SurveyOption(label=label, position=n) for n, label in enumerate(labels, start=1)])
        for position, (kind, prompt, required, labels) in enumerate(questions, start=1)]
    session.add(survey)
    session.flush()
    return survey


def _answer(session: Session, survey: Survey, registrant_ids: list[int], rng: random.Random, start: Any,
            end: Any) -> None:
    span = max(1, int((end - start).total_seconds()))
    for registrant_id in registrant_ids:
        when = start + timedelta(seconds=rng.randrange(span))
        response = SurveyResponse(survey_id=survey.id, registrant_id=registrant_id, submitted_at=when, updated_at=when)
        session.add(response)
        session.flush()
        session.add_all(SurveyAnswer(response_id=response.id, **row) for row in _rows(survey, rng))


def _rows(survey: Survey, rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for question in survey.questions:
        if not question.is_required and rng.random() < 0.2:
            continue
        if question.kind == QuestionKind.SINGLE:
            weights = [len(question.options) - n for n in range(len(question.options))]
            rows.append({"question_id": question.id, "option_id": rng.choices(question.options, weights)[0].id})
        elif question.kind == QuestionKind.MULTIPLE:
            chosen = rng.sample(question.options, rng.randint(1, 3))
            rows.extend({"question_id": question.id, "option_id": option.id} for option in chosen)
        elif question.kind == QuestionKind.RATING:
            rows.append({"question_id": question.id, "rating": rng.choices([1, 2, 3, 4, 5], [1, 2, 5, 8, 5])[0]})
        elif survey.kind == "satisfaction" and rng.random() < 0.7:
            continue
        else:
            pool = COMMENTS if survey.kind == "satisfaction" else TOPICS
            rows.append({"question_id": question.id, "text": rng.choice(pool)})
    return rows
