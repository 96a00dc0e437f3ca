"""Surveys (アンケート) built by staff and answered once per registrant; the satisfaction rating is one of them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.timeutil import utcnow
from app.extensions import db


class SurveyKind(enum.StrEnum):
    SURVEY = "survey"
    SATISFACTION = "satisfaction"  # the built-in system-satisfaction rating, answered from any page footer


class Audience(enum.StrEnum):
    """Who a survey or a bulk message is for."""

    ALL_ACTIVE = "all_active"  # every registrant whose status is active
    SAVED_SEARCH = "saved_search"  # the registrants a saved search finds when they look
    DIRECT = "direct"  # one registrant (a reply to an inquiry)


class QuestionKind(enum.StrEnum):
    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # any number of options
    RATING = "rating"  # 1 to 5
    TEXT = "text"  # free text


class Survey(db.Model):
    __tablename__ = "survey"
    __table_args__ = (
        sa.Index("ix_survey_window", "published_at", "opens_at", "closes_at"),
        {"comment": "アンケート(満足度評価も種類 satisfaction の1件として持つ)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    kind: Mapped[str] = mapped_column(
        sa.String(16), default=SurveyKind.SURVEY, comment="種類(survey=アンケート / satisfaction=システム満足度評価)")
    title: Mapped[str] = mapped_column(sa.String(200), comment="タイトル")
    description: Mapped[str | None] = mapped_column(sa.Text, comment="説明文(回答画面の冒頭に表示)")
    audience: Mapped[str] = mapped_column(
        sa.String(16), default=Audience.ALL_ACTIVE, comment="対象(all_active=有効な登録者全員 / saved_search=保存した検索)")
    saved_search_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("saved_search.id", ondelete="SET NULL"), comment="対象を決める保存した検索のID")
    opens_at: Mapped[datetime | None] = mapped_column(comment="回答受付の開始日時(UTC)。NULLは公開と同時")
    closes_at: Mapped[datetime | None] = mapped_column(comment="回答の締切日時(UTC)。NULLは締切なし")
    answers_editable: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true(), comment="締切まで回答を修正できるか")
    is_named: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false(), comment="記名式か(偽なら職員は集計結果だけを見られる)")
    published_at: Mapped[datetime | None] = mapped_column(comment="公開した日時(UTC)。NULLは下書き")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")

    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="survey", order_by="SurveyQuestion.position", cascade="all, delete-orphan",
        passive_deletes=True)


class SurveyQuestion(db.Model):
    __tablename__ = "survey_question"
    __table_args__ = (
        sa.Index("ix_survey_question_survey_position", "survey_id", "position"),
        {"comment": "アンケートの設問"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), comment="アンケートID")
    position: Mapped[int] = mapped_column(default=0, comment="表示順")
    kind: Mapped[str] = mapped_column(
        sa.String(16), comment="形式(single=単一選択 / multiple=複数選択 / rating=5段階評価 / text=自由記述)")
    prompt: Mapped[str] = mapped_column(sa.String(500), comment="設問文")
    help_text: Mapped[str | None] = mapped_column(sa.String(500), comment="補足説明")
    is_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false(), comment="回答必須か")

    survey: Mapped[Survey] = relationship(back_populates="questions")
    options: Mapped[list[SurveyOption]] = relationship(
        back_populates="question", order_by="SurveyOption.position", cascade="all, delete-orphan",
        passive_deletes=True)


class SurveyOption(db.Model):
    __tablename__ = "survey_option"
    __table_args__ = (
        sa.Index("ix_survey_option_question_position", "question_id", "position"),
        {"comment": "選択式の設問の選択肢"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_question.id", ondelete="CASCADE"), comment="設問ID")
    position: Mapped[int] = mapped_column(default=0, comment="表示順")
    label: Mapped[str] = mapped_column(sa.String(200), comment="選択肢の文言")

    question: Mapped[SurveyQuestion] = relationship(back_populates="options")


class SurveyResponse(db.Model):
    __tablename__ = "survey_response"
    __table_args__ = (
        sa.UniqueConstraint("survey_id", "registrant_id", name="uq_survey_response_survey_registrant"),
        sa.Index("ix_survey_response_registrant", "registrant_id"),
        {"comment": "アンケートへの回答(登録者ごとに1件)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    survey_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey.id", ondelete="CASCADE"), comment="アンケートID")
    registrant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrant.id", ondelete="CASCADE"), comment="回答した登録者のID")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow, comment="最初に回答した日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, comment="最後に回答を修正した日時(UTC)")

    answers: Mapped[list[SurveyAnswer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", passive_deletes=True)


class SurveyAnswer(db.Model):
    __tablename__ = "survey_answer"
    __table_args__ = (
        sa.Index("ix_survey_answer_response", "response_id"),
        sa.Index("ix_survey_answer_question_option", "question_id", "option_id"),
        {"comment": "設問ごとの回答(複数選択は選んだ選択肢ごとに1行)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_response.id", ondelete="CASCADE"), comment="回答ID")
    question_id: Mapped[int] = mapped_column(
        sa.ForeignKey("survey_question.id", ondelete="CASCADE"), comment="設問ID")
    option_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("survey_option.id", ondelete="CASCADE"), comment="選んだ選択肢のID(選択式)")
    rating: Mapped[int | None] = mapped_column(sa.SmallInteger, comment="評価(1〜5。5段階評価のみ)")
    text: Mapped[str | None] = mapped_column(sa.Text, comment="自由記述の回答(2000文字以内)")

    response: Mapped[SurveyResponse] = relationship(back_populates="answers")
