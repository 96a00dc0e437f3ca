"""The monthly report (N10) and the fiscal-year summary (N15): .xlsx with native charts, output history, CLI."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from app.analytics.models import PageView
from app.analytics.report import fiscal_year_label
from app.analytics.services import add_months
from app.core.timeutil import fiscal_year, tokyo_day_start_utc, tokyo_today, utcnow
from app.events.models import Event, EventRsvp
from app.extensions import db
from app.inbox.models import Message, MessageRecipient
from app.mail.models import OutboxMessage
from app.outputs.models import OutputRecord
from app.registrants.models import StatusChange
from app.surveys.models import Survey, SurveyAnswer, SurveyQuestion, SurveyResponse
from tests.conftest import STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse)

SHEETS = ["概要", "登録者", "アクセス", "メッセージ", "アンケート", "イベント"]


def jst(day: date, hour: int, minute: int = 0) -> datetime:
    return tokyo_day_start_utc(day) + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def month() -> date:
    """Last month: a closed month, whatever today is."""
    return add_months(tokyo_today().replace(day=1), -1)


def month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def seed_month(app: Any, make_registrant: Any, month: date) -> dict[str, int]:
    last = add_months(month, 1) - timedelta(days=1)
    day = month.replace
    a = make_registrant(registered_at=jst(day(day=3), 10))
    b = make_registrant(registered_at=jst(day(day=3), 23, 30))  # 23:30 JST: still the 3rd
    c = make_registrant(registered_at=jst(day(day=15), 9))
    make_registrant(registered_at=jst(month - timedelta(days=40), 9))  # before the month: not new
    make_registrant(registered_at=jst(add_months(month, 1), 0, 30))  # 00:30 on the 1st of next month: not this month
    with app.app_context():
        db.session.add(StatusChange(registrant_id=a.id, from_status="active", to_status="active", reason="renewed",
                                    changed_at=jst(day(day=10), 11)))
        db.session.add(StatusChange(registrant_id=c.id, from_status="active", to_status="expired",
                                    reason="fiscal_year_end", changed_at=jst(day(day=20), 0, 5)))
        db.session.execute(sa.insert(PageView), [
            {"viewed_at": at, "endpoint": endpoint, "subject_id": None, "registrant_id": who}
            for at, endpoint, who in [
                (jst(day(day=5), 9), "auth.login", a.id), (jst(day(day=5), 9, 1), "portal.me", a.id),
                (jst(day(day=5), 9, 2), "portal.index", a.id), (jst(day(day=20), 12), "portal.index", b.id),
                (jst(last, 23, 30), "portal.guide", None),
                (jst(add_months(month, 1), 0, 30), "portal.guide", None)]])  # the next month: not counted
        message = Message(subject="研修のお知らせ", body="本文", audience="all_active", recipient_count=2,
                          sent_at=jst(day(day=8), 9))
        survey = Survey(title="研修ニーズ調査", audience="all_active", published_at=jst(day(day=2), 9))
        rating = Survey(kind="satisfaction", title="満足度", audience="all_active", published_at=jst(day(day=1), 9))
        event = Event(title="交流会", description="説明", starts_at=jst(day(day=12), 14), capacity=10,
                      published_at=jst(day(day=1), 9))
        db.session.add_all([message, survey, rating, event])
        db.session.flush()
        db.session.add_all([MessageRecipient(message_id=message.id, registrant_id=a.id, read_at=utcnow()),
                            MessageRecipient(message_id=message.id, registrant_id=b.id)])
        question = SurveyQuestion(survey_id=rating.id, kind="rating", prompt="満足度")
        db.session.add(question)
        db.session.flush()
        for who, stars in ((a, 4), (b, 2)):
            response = SurveyResponse(survey_id=rating.id, registrant_id=who.id, submitted_at=jst(day(day=9), 9),
                                      updated_at=jst(day(day=9), 9))
            db.session.add(response)
            db.session.flush()
            db.session.add(SurveyAnswer(response_id=response.id, question_id=question.id, rating=stars))
        db.session.add(SurveyResponse(survey_id=survey.id, registrant_id=a.id, submitted_at=jst(day(day=9), 10),
                                      updated_at=jst(day(day=9), 10)))
        db.session.add_all([EventRsvp(event_id=event.id, registrant_id=a.id, status="going", attended=True),
                            EventRsvp(event_id=event.id, registrant_id=b.id, status="going", attended=False)])
        db.session.add_all([OutboxMessage(category="campaign", to_address=f"m{n}@example.com", subject="s",
                                          body_text="b", status="sent", sent_at=jst(day(day=8), 9, n),
                                          bounced_at=jst(day(day=8), 12) if n == 0 else None) for n in range(2)])
        db.session.commit()
    return {"a": a.id, "b": b.id, "c": c.id}


def rows_of(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def row_starting(ws: Any, first: Any, after: str | None = None) -> tuple[Any, ...]:
    rows = rows_of(ws)
    if after:
        rows = rows[[r[0] for r in rows].index(after):]
    return next(r for r in rows if r[0] == first)


def download(client: Any, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response.headers["Cache-Control"] == "no-store"
    data = response.data
    response.close()  # closes the spooled file the download streamed from
    return data


def test_monthly_report_has_every_sheet_with_charts_and_the_right_figures(app, client, make_staff, make_registrant,
                                                                         month):
    seed_month(app, make_registrant, month)
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    data = download(client, f"/admin/analytics/reports/monthly.xlsx?month={month_key(month)}")
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == SHEETS
    for name in SHEETS:
        assert wb[name]._charts, f"no chart on {name}"
    assert wb["概要"]["A1"].value == f"月次報告書 {month.year}年{month.month}月"

    people = wb["登録者"]
    assert row_starting(people, f"{month:%Y-%m}-03")[1:4] == (2, 0, 0)
    assert row_starting(people, f"{month:%Y-%m}-10")[1:4] == (0, 1, 0)
    assert row_starting(people, f"{month:%Y-%m}-20")[1:4] == (0, 0, 1)
    assert row_starting(people, "合計")[1:4] == (3, 1, 1)
    assert row_starting(people, "有効", after="期末の状態別の人数")[1] == 3  # c expired on the 20th; next month's not yet
    assert row_starting(people, "期限切れ", after="期末の状態別の人数")[1] == 1

    access = wb["アクセス"]
    assert row_starting(access, f"{month:%Y-%m}-05")[1:4] == (2, 1, 1)
    last = add_months(month, 1) - timedelta(days=1)
    assert row_starting(access, f"{last:%Y-%m-%d}")[1:4] == (1, 0, 0)  # 23:30 JST on the last day
    assert row_starting(access, "合計")[1:4] == (4, 1, 2)
    series = access._charts[0].series[0].val.numRef.f
    assert series.startswith("'アクセス'!") or series.startswith("アクセス!")

    overview = wb["概要"]
    assert row_starting(overview, "新規登録")[1] == 3
    assert row_starting(overview, "メッセージの既読率")[1] == 0.5
    rate_cell = next(r for r in overview.iter_rows(min_col=1, max_col=2) if r[0].value == "メッセージの既読率")[1]
    assert rate_cell.number_format == "0.0%"  # shown as 50.0%, not 0.5
    assert row_starting(overview, "満足度の平均(5段階)")[1] == 3.0
    assert row_starting(overview, "メール不達")[1] == 1
    messages = wb["メッセージ"]
    assert row_starting(messages, "合計", after="メールの送信・不達")[1:3] == (2, 1)
    assert any("研修のお知らせ" in str(r[1]) and r[2:5] == (2, 1, 0.5) for r in rows_of(messages))
    surveys = wb["アンケート"]
    assert any(r[0] == "研修ニーズ調査" and r[3:6] == (5, 1, 0.2) for r in rows_of(surveys))
    events = wb["イベント"]
    assert any(r[1] == "交流会" and r[3] == 2 and r[5] == 1 for r in rows_of(events))

    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.kind == "report" and record.staff_id == staff.id
        assert record.title == f"月次報告書 {month.year}年{month.month}月"
        assert json.loads(record.filter_description) == {"month": month_key(month)}
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert record.filename == f"tsunagu-monthly-report-{month_key(month)}.xlsx"


def test_the_same_data_gives_the_same_bytes(app, client, make_staff, make_registrant, month):
    seed_month(app, make_registrant, month)
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    url = f"/admin/analytics/reports/monthly.xlsx?month={month_key(month)}"
    assert download(client, url) == download(client, url)


@pytest.mark.parametrize("month_arg", ["2026-13", "26-10", "", "2026-10-01", "1999-12", "9999-01"])
def test_a_bad_month_from_the_dashboard_is_a_message_not_a_file(app, client, make_staff, month_arg):
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    response = client.get(f"/admin/analytics/reports/monthly.xlsx?month={month_arg}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/analytics/")
    html = client.get("/admin/analytics/").get_data(as_text=True)
    assert "報告書は作れません" in html or "YYYY-MM" in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutputRecord)) == 0


def test_fiscal_year_report_has_april_to_march_as_rows(app, client, make_staff, make_registrant, month):
    seed_month(app, make_registrant, month)
    year = fiscal_year(month)
    staff = make_staff("viewer")
    login(client, staff.email, STRONG_PASSWORD)
    wb = load_workbook(io.BytesIO(download(client, f"/admin/analytics/reports/fiscal-year.xlsx?year={year}")))
    assert wb.sheetnames == SHEETS
    assert all(wb[name]._charts for name in SHEETS)
    assert wb["概要"]["A1"].value == f"年度報告書 {fiscal_year_label(year)}"
    people = wb["登録者"]
    labels = [r[0] for r in rows_of(people)]
    first = labels.index(f"{year}年4月")
    assert labels[first:first + 12] == [f"{y}年{m}月" for y, m in [(year, m) for m in range(4, 13)] +
                                        [(year + 1, m) for m in range(1, 4)]]
    assert row_starting(people, f"{month.year}年{month.month}月")[1:4] == (3, 1, 1)
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.title == f"年度報告書 {fiscal_year_label(year)}"
        assert json.loads(record.filter_description) == {"fiscal_year": year}


def test_fiscal_year_labels():
    assert fiscal_year_label(2026) == "令和8年度"
    assert fiscal_year_label(2019) == "令和元年度"
    assert fiscal_year_label(2018) == "平成30年度"


# --- the CLI -------------------------------------------------------------------------------------------------------

def flask(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_cli_monthly_writes_the_file_with_progress_and_records_it(app, make_registrant, month, tmp_path):
    seed_month(app, make_registrant, month)
    target = tmp_path / "report.xlsx"
    result = flask(app, "report", "monthly", "--month", month_key(month), "--output", str(target))
    assert result.exit_code == 0, result.output
    assert "registrants …" in result.stderr and "workbook …" in result.stderr
    assert str(target) in result.stdout
    data = target.read_bytes()
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == SHEETS
    assert row_starting(wb["登録者"], "合計")[1:4] == (3, 1, 1)
    with app.app_context():
        record = db.session.scalars(sa.select(OutputRecord)).one()
        assert record.staff_id is None and record.staff_name == "system"
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert json.loads(record.filter_description) == {"month": month_key(month)}


@pytest.mark.parametrize("month_arg", ["2026-13", "October", "2026/10", "1999-12", "9999-01"])
def test_cli_bad_month_is_a_clear_error_with_exit_code_2(app, month_arg, tmp_path):
    result = flask(app, "report", "monthly", "--month", month_arg, "--output", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.xlsx").exists()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutputRecord)) == 0


def test_cli_fiscal_year_and_a_bad_year(app, tmp_path):
    year = fiscal_year(tokyo_today())
    result = flask(app, "report", "fiscal-year", "--year", str(year), "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"tsunagu-fiscal-year-report-{year}.xlsx").exists()
    bad = flask(app, "report", "fiscal-year", "--year", "R8", "--output", str(tmp_path))
    assert bad.exit_code == 2 and "error:" in bad.stderr and "Traceback" not in bad.output
