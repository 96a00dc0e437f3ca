"""The two survey workbooks: answers (one row per respondent) and the summary (counts with native charts).

Both go through HashingWriter into the output history (kind xlsx, which also writes the audit event).
Respondent names and ids appear only for a named survey; otherwise the rows are sorted by their content and
numbered, so their order says nothing about who answered when.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy.orm import Session

from app.core.timeutil import TOKYO, to_tokyo_input
from app.core.xlsx import save_streaming
from app.outputs.models import OutputKind, OutputRecord
from app.outputs.services import HashingWriter, record_output
from app.registrants.models import Registrant
from app.surveys import services
from app.surveys.models import QuestionKind, Survey, SurveyAnswer, SurveyOption, SurveyQuestion, SurveyResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 1000


@dataclass
class Export:
    writer: HashingWriter
    filename: str
    mimetype: str
    record: OutputRecord


def _filename(survey: Survey, what: str) -> str:
    return f"tsunagu-survey-{survey.id}-{what}-{datetime.now(TOKYO):%Y%m%d-%H%M}.xlsx"




# --- answers: one row per respondent -------------------------------------------------------------

def _answers_by_response(session: Session, survey: Survey) -> dict[int, dict[int, list[Any]]]:
    """response id -> question id -> values (option labels in their order, a rating, a text)."""
    stmt = (sa.select(SurveyAnswer.response_id, SurveyAnswer.question_id, SurveyOption.label, SurveyAnswer.rating,
                      SurveyAnswer.text)
            .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
            .outerjoin(SurveyOption, SurveyOption.id == SurveyAnswer.option_id)
            .where(SurveyResponse.survey_id == survey.id)
            .order_by(SurveyAnswer.response_id, SurveyAnswer.question_id, SurveyOption.position, SurveyAnswer.id))
    answers: dict[int, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for partition in session.execute(stmt.execution_options(yield_per=CHUNK)).partitions():
        for response_id, question_id, label, rating, text in partition:
            value = label if label is not None else (rating if rating is not None else text)
            answers[response_id][question_id].append(value)
    return answers


def _cell_value(question: SurveyQuestion, values: list[Any]) -> Any:
    if not values:
        return None
    if question.kind == QuestionKind.MULTIPLE.value:
        return "、".join(str(value) for value in values)
    return values[0]


def answer_table(session: Session, survey: Survey) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the answers workbook."""
    questions = list(survey.questions)
    answers = _answers_by_response(session, survey)
    prompts = [f"Q{n}. {q.prompt}" for n, q in enumerate(questions, start=1)]
    if survey.is_named:
        people = session.execute(
            sa.select(SurveyResponse.id, SurveyResponse.registrant_id, Registrant.family_name, Registrant.given_name,
                      SurveyResponse.submitted_at, SurveyResponse.updated_at)
            .join(Registrant, Registrant.id == SurveyResponse.registrant_id)
            .where(SurveyResponse.survey_id == survey.id).order_by(SurveyResponse.submitted_at, SurveyResponse.id))
        rows = [[registrant_id, f"{family} {given}", to_tokyo_input(submitted), to_tokyo_input(updated),
                 *[_cell_value(q, answers[response_id][q.id]) for q in questions]]
                for response_id, registrant_id, family, given, submitted, updated in people]
        return [_("登録者ID"), _("氏名"), _("回答日時"), _("最終修正日時"), *prompts], rows
    response_ids = session.scalars(sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == survey.id))
    bodies = [[_cell_value(q, answers[response_id][q.id]) for q in questions] for response_id in response_ids]
    bodies.sort(key=lambda row: [("" if value is None else str(value)) for value in row])
    return [_("番号"), *prompts], [[number, *body] for number, body in enumerate(bodies, start=1)]


def _text_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text typed by a registrant is never a formula
        return cell
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    return value


def export_answers(session: Session, actor: Any, survey: Survey, ip: str | None) -> Export:
    header, rows = answer_table(session, survey)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("回答一覧"))
    sheet.freeze_panes = "A2"
    sheet.append([_text_cell(sheet, value) for value in header])
    for row in rows:
        sheet.append([_text_cell(sheet, value) for value in row])
    out = HashingWriter()
    save_streaming(workbook, out)
    filename = _filename(survey, "answers")
    record = record_output(session, actor, kind=OutputKind.XLSX, title=_("アンケート回答一覧"),
                           filters={"survey_id": survey.id, "named": survey.is_named}, row_count=len(rows),
                           filename=filename, sha256=out.sha256, ip=ip)
    return Export(out, filename, XLSX, record)


# --- summary: counts per question with a native bar chart ----------------------------------------

def export_summary(session: Session, actor: Any, survey: Survey, ip: str | None) -> Export:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    result = services.results(session, survey, texts_shown=100_000)
    bold = Font(bold=True)
    workbook = Workbook()
    overview = workbook.active
    overview.title = _("概要")
    rows = [(_("タイトル"), survey.title), (_("状態"), str(services.STATE_LABELS[services.state_of(survey)])),
            (_("受付開始"), to_tokyo_input(survey.opens_at or survey.published_at)), (_("締切"), to_tokyo_input(survey.closes_at)),
            (_("対象者数(現在)"), result.target), (_("回答数"), result.responses),
            (_("回答率(%)"), round(result.rate, 1) if result.rate is not None else None),
            (_("記名式"), _("はい") if survey.is_named else _("いいえ")),
            (_("出力日時"), datetime.now(TOKYO).replace(tzinfo=None, microsecond=0))]
    for label, value in rows:
        _append(overview, [label, value])
        overview.cell(row=overview.max_row, column=1).font = bold
        if isinstance(value, datetime):
            overview.cell(row=overview.max_row, column=2).number_format = "yyyy-mm-dd hh:mm"
    overview.column_dimensions["A"].width, overview.column_dimensions["B"].width = 18, 50
    for number, item in enumerate(result.questions, start=1):
        sheet = workbook.create_sheet(_("設問%(n)d", n=number))
        _append(sheet, [f"Q{number}. {item.question.prompt}"])
        sheet["A1"].font = bold
        _append(sheet, [str(services.KIND_LABELS.get(item.question.kind, item.question.kind)),
                      _("回答者数 %(n)d人", n=item.answered)])
        sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 40, 12
        if item.question.kind == QuestionKind.TEXT.value:
            _append(sheet, [_("回答")])
            for text in item.texts:
                _append(sheet, [text])
            continue
        _append(sheet, [_("選択肢") if item.question.kind != QuestionKind.RATING.value else _("評価"), _("人数")])
        start = sheet.max_row
        for label, count in item.counts:
            _append(sheet, [label, count])
        if item.mean is not None:
            _append(sheet, [_("平均"), item.mean])
        chart = BarChart()
        chart.type, chart.title, chart.legend = "bar", f"Q{number}", None
        chart.y_axis.title = _("人数")
        chart.add_data(Reference(sheet, min_col=2, min_row=start, max_row=start + len(item.counts)),
                       titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=start + 1, max_row=start + len(item.counts)))
        chart.x_axis.scaling.orientation = "maxMin"  # first option at the top, as in the table
        chart.height, chart.width = max(7.5, 0.8 * len(item.counts) + 3), 16
        sheet.add_chart(chart, "D3")
    workbook.properties.creator = workbook.properties.lastModifiedBy = "Tsunagu"
    out = HashingWriter()
    workbook.save(out)
    filename = _filename(survey, "summary")
    record = record_output(session, actor, kind=OutputKind.XLSX, title=_("アンケート集計"),
                           filters={"survey_id": survey.id}, row_count=len(result.questions), filename=filename,
                           sha256=out.sha256, ip=ip)
    return Export(out, filename, XLSX, record)



def _append(sheet: Any, values: list[Any]) -> None:
    """Append a row; text (typed by staff or registrants) is stored as text even when it starts with "="."""
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
