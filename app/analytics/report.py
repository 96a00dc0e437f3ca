"""The monthly report (月次報告書, N10) and the fiscal-year summary (年度報告書, N15) as .xlsx.

Six sheets (概要, 登録者, アクセス, メッセージ, アンケート, イベント), each a table with a native Excel chart
(openpyxl.chart) that refers to the sheet's own cells. The monthly report has one row per day, the
fiscal-year summary one row per month (April to March). The bytes depend only on the data: no generation
time inside, fixed document dates (app.core.xlsx.reproducible_bytes). Every file lands in the output history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app.analytics import services
from app.analytics.rollup import rollup_between
from app.analytics.services import Bucket
from app.core.jpdate import ERAS, format_western
from app.core.templating import STATUS_LABELS
from app.core.timeutil import fiscal_year, to_tokyo, tokyo_today
from app.outputs.models import OutputKind, OutputRecord
from app.outputs.services import HashingWriter, record_output

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FONT = "Meiryo UI"
FIRST_YEAR = 2000
TOP_ARTICLES = 20
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")

Progress = Callable[[str], Any]


class ReportInputError(ValueError):
    """A month or year that names no report (message in Japanese)."""


# --- the period ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportPeriod:
    kind: str  # "monthly" or "fiscal_year"
    title: str
    rows: list[Bucket]
    filters: dict[str, Any]
    filename: str
    row_header: str

    @property
    def start(self) -> date:
        return self.rows[0].start

    @property
    def end(self) -> date:
        return self.rows[-1].end

    @property
    def span_label(self) -> str:
        return _("対象期間: %(start)s〜%(end)s(日本時間)", start=format_western(self.start),
                 end=format_western(self.end - timedelta(days=1)))


def parse_month(text: str | None, today: date | None = None) -> date:
    """'2026-10' -> date(2026, 10, 1); ReportInputError for anything else, or a month not yet begun."""
    match = _MONTH.fullmatch((text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportInputError(_("月は YYYY-MM の形で指定してください(例: 2026-10)。"))
    month = date(int(match.group(1)), int(match.group(2)), 1)
    if month.year < FIRST_YEAR or month > (today or tokyo_today()):
        raise ReportInputError(_("%(month)s の報告書は作れません(%(first)d年以降、今月までを指定してください)。",
                                 month=text, first=FIRST_YEAR))
    return month


def parse_fiscal_year(value: Any, today: date | None = None) -> int:
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        raise ReportInputError(_("年度は西暦の4桁で指定してください(例: 2026)。")) from None
    if not FIRST_YEAR <= year <= fiscal_year(today or tokyo_today()):
        raise ReportInputError(_("%(year)s年度の報告書は作れません(%(first)d年度以降、今年度までを指定してください)。",
                                 year=value, first=FIRST_YEAR))
    return year


def fiscal_year_label(year: int) -> str:
    """令和8年度 for 2026: the era in force at the fiscal year's end, counted from the year it starts in."""
    end = date(year + 1, 3, 31)
    for name, (first_day, base) in sorted(((n, e) for n, e in ERAS.items() if len(n) > 1),
                                          key=lambda item: item[1][0], reverse=True):
        if end >= first_day and year >= base:
            number = year - base + 1
            return f"{name}{'元' if number == 1 else number}年度"
    return f"{year}年度"


def monthly_period(month: date) -> ReportPeriod:
    last = services.add_months(month, 1) - timedelta(days=1)
    key = f"{month:%Y-%m}"
    return ReportPeriod("monthly", _("月次報告書 %(month)s", month=services.month_label(month)),
                        services.day_buckets(month, last), {"month": key}, f"tsunagu-monthly-report-{key}.xlsx",
                        _("日付"))


def fiscal_year_period(year: int) -> ReportPeriod:
    return ReportPeriod("fiscal_year", _("年度報告書 %(label)s", label=fiscal_year_label(year)),
                        services.month_buckets(date(year, 4, 1), 12), {"fiscal_year": year},
                        f"tsunagu-fiscal-year-report-{year}.xlsx", _("月"))


# --- the figures -----------------------------------------------------------------------------------------------

@dataclass
class ReportData:
    period: ReportPeriod
    flow: services.RegistrantFlow
    statuses: list[tuple[str, int]]
    regions: list[tuple[str, int]]
    access: services.Access
    active_total: int
    articles: list[services.ArticleRow]
    messages: list[services.MessageRow]
    mail: services.MailSeries
    surveys: list[services.SurveyRow]
    satisfaction: services.Satisfaction
    events: list[services.EventRow]


def report_data(session: Session, period: ReportPeriod, today: date | None = None,
                progress: Progress | None = None) -> ReportData:
    """Summarise the period's closed days if needed, then gather every figure (one SQL aggregate each)."""
    today = today or tokyo_today()
    step = progress or (lambda _name: None)
    step("daily summaries")
    rollup_between(session, period.start, min(period.end, today) - timedelta(days=1))
    start, end, rows = period.start, period.end, period.rows
    step("registrants")
    flow = services.registrant_flow(session, rows)
    statuses, regions = services.totals_at(session, min(end, today + timedelta(days=1)))
    step("access")
    access = services.access_series(session, rows, today)
    active_total = services.active_count(session, start, end, today)
    articles = services.top_articles(session, start, end, today, limit=TOP_ARTICLES)
    step("messages and mail")
    messages, mail = services.message_reads(session, start, end, limit=None), services.mail_series(session, rows)
    step("surveys")
    surveys, rating = services.survey_rates(session, start, end, limit=None), services.satisfaction(session, start, end)
    step("events")
    events = services.event_attendance(session, start, end, limit=None)
    return ReportData(period, flow, statuses, regions, access, active_total, articles, messages, mail, surveys,
                      rating, events)


# --- the workbook ----------------------------------------------------------------------------------------------

class _Sheet:
    """Appends headings and tables to one sheet and remembers where they went (for the charts)."""

    def __init__(self, wb: Any, title: str, heading: str, lines: list[str]) -> None:
        from openpyxl.styles import Font, PatternFill

        self.ws = wb.create_sheet(title)
        self.bold = Font(name=FONT, size=10, bold=True, color="FFFFFF")
        self.fill = PatternFill("solid", fgColor="305496")
        self.ws.append([heading])
        self.ws.cell(row=1, column=1).font = Font(name=FONT, size=14, bold=True)
        for line in lines:
            self.ws.append([line])
        self.ws.column_dimensions["A"].width = 30
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True  # printed: A4 landscape, one page wide
        self.ws.page_setup.paperSize, self.ws.page_setup.orientation = "9", "landscape"
        self.ws.page_setup.fitToWidth, self.ws.page_setup.fitToHeight = 1, 0
        for letter in "BCDEFG":
            self.ws.column_dimensions[letter].width = 14

    def table(self, caption: str, headers: list[str], rows: list[list[Any]]) -> tuple[int, int]:
        """Write a captioned table; returns (header row, last data row)."""
        from openpyxl.styles import Font

        self.ws.append([])
        self.ws.append([caption])
        self.ws.cell(row=self.ws.max_row, column=1).font = Font(name=FONT, size=11, bold=True)
        self.ws.append(headers)
        header_row = self.ws.max_row
        for column in range(1, len(headers) + 1):
            cell = self.ws.cell(row=header_row, column=column)
            cell.font, cell.fill = self.bold, self.fill
        for row in rows:
            self.ws.append([_cell_value(value) for value in row])
            for column, value in enumerate(row, start=1):
                if isinstance(value, str):
                    self.ws.cell(row=self.ws.max_row, column=column).data_type = "s"  # never a formula
                elif isinstance(value, float):
                    self.ws.cell(row=self.ws.max_row, column=column).number_format = \
                        "0.0%" if isinstance(value, Rate) else "0.00"
        return header_row, self.ws.max_row

    def chart(self, kind: str, title: str, header_row: int, last_row: int, first_col: int, last_col: int,
              anchor_col: str = "I", y_title: str | None = None) -> None:
        """A native chart of columns first_col..last_col (header row = series names), categories in column A."""
        from openpyxl.chart import BarChart, LineChart, Reference

        if last_row <= header_row:
            return
        chart: Any = LineChart() if kind == "line" else BarChart()
        if kind == "bar":
            chart.type = "bar"
            chart.x_axis.scaling.orientation = "maxMin"  # the first row at the top, as in the table
        elif kind == "col":
            chart.type = "col"
        chart.title = title
        chart.y_axis.title = y_title or _("件数")
        chart.height, chart.width = 8, 18
        chart.add_data(Reference(self.ws, min_col=first_col, max_col=last_col, min_row=header_row, max_row=last_row),
                       titles_from_data=True)
        chart.set_categories(Reference(self.ws, min_col=1, min_row=header_row + 1, max_row=last_row))
        if last_col == first_col:
            chart.legend = None
        self.ws.add_chart(chart, f"{anchor_col}{header_row}")


def _cell_value(value: Any) -> Any:
    from app.handover.services import xlsx_text

    if isinstance(value, str):
        return xlsx_text(value)
    if isinstance(value, datetime):
        return to_tokyo(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    return value


class Rate(float):
    """A share (0–1) that the workbook shows as a percentage."""


def _rate(part: int, whole: int | None) -> Rate | str:
    return Rate(part / whole) if whole else "-"


def write_workbook(data: ReportData, out: Any) -> None:
    """Build the six sheets and write the reproducible bytes to `out`."""
    from openpyxl import Workbook

    from app.core.xlsx import reproducible_bytes

    period = data.period
    wb = Workbook()
    wb.remove(wb.active)
    lines = [period.span_label]
    _overview(wb, data, lines)
    _registrants(wb, data, lines)
    _access(wb, data, lines)
    _messages(wb, data, lines)
    _surveys(wb, data, lines)
    _events(wb, data, lines)
    stamp = datetime.combine(period.end, time(0, 0))
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu"
    wb.properties.title = period.title
    wb.properties.created = stamp
    out.write(reproducible_bytes(wb, stamp))


def _labels(data: ReportData) -> list[str]:
    return [b.label for b in data.period.rows]


def _overview(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("概要"), data.period.title, lines)
    messages = data.messages
    recipients = sum(m.recipients for m in messages)
    read = sum(m.read for m in messages)
    going = sum(e.going for e in data.events)
    attended = sum(e.attended for e in data.events)
    responses = sum(s.responses for s in data.surveys)
    active_now = data.statuses[list(STATUS_LABELS).index("active")][1]
    counts = [[_("新規登録"), sum(data.flow.new)], [_("年度更新"), sum(data.flow.renewed)],
              [_("期限切れ"), sum(data.flow.expired)], [_("ログイン"), sum(data.access.logins)],
              [_("利用者(実人数)"), data.active_total], [_("メッセージの受信者"), recipients],
              [_("メッセージの既読"), read], [_("メール送信"), sum(data.mail.sent)], [_("メール不達"), sum(data.mail.bounced)],
              [_("アンケート回答"), responses], [_("イベント参加申込"), going], [_("イベント出席"), attended]]
    header, last = sheet.table(_("主な件数"), [_("項目"), _("件数")], counts)
    sheet.chart("bar", _("主な件数"), header, last, 2, 2, anchor_col="D")
    mean = data.satisfaction.mean
    sheet.table(_("その他の指標"), [_("項目"), _("値")], [
        [_("ページ閲覧数"), sum(data.access.views)],
        [_("期末の有効な登録者"), active_now],
        [_("メッセージの既読率"), _rate(read, recipients)],
        [_("イベントの出席率"), _rate(attended, going)],
        [_("満足度の平均(5段階)"), round(mean, 2) if mean is not None else "-"],
        [_("満足度の回答数"), data.satisfaction.count]])
    sheet.ws.append([])
    sheet.ws.append([_("メールの開封は計測していません(追跡画像を使わないため)。")])


def _registrants(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("登録者"), _("登録者の推移"), lines)
    flow = data.flow
    rows = [[label, n, r, e] for label, n, r, e in zip(_labels(data), flow.new, flow.renewed, flow.expired,
                                                        strict=True)]
    rows.append([_("合計"), sum(flow.new), sum(flow.renewed), sum(flow.expired)])
    header, last = sheet.table(_("新規登録・年度更新・期限切れ"),
                               [data.period.row_header, _("新規登録"), _("年度更新"), _("期限切れ")], rows)
    sheet.chart("col", _("新規登録・年度更新・期限切れ"), header, last - 1, 2, 4, y_title=_("人数"))
    header, last = sheet.table(_("期末の状態別の人数"), [_("状態"), _("人数")], [list(row) for row in data.statuses])
    sheet.chart("bar", _("期末の状態別の人数"), header, last, 2, 2, y_title=_("人数"))
    sheet.table(_("期末の地域別の有効な登録者"), [_("地域"), _("人数")], [list(row) for row in data.regions])


def _access(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("アクセス"), _("アクセス"), lines)
    access = data.access
    active_header = _("利用者数(日別)") if data.period.kind == "monthly" else _("利用者数(月間)")
    rows = [[label, v, lg, a] for label, v, lg, a in zip(_labels(data), access.views, access.logins, access.active,
                                                         strict=True)]
    rows.append([_("合計"), sum(access.views), sum(access.logins), data.active_total])
    header, last = sheet.table(_("ページ閲覧数・ログイン数・利用者数"),
                               [data.period.row_header, _("ページ閲覧数"), _("ログイン数"), active_header], rows)
    sheet.chart("line", _("ページ閲覧数・ログイン数・利用者数"), header, last - 1, 2, 4)
    sheet.ws.append([_("利用者数はその日(月)に一度でも利用した登録者の実人数。合計欄は期間中の実人数です。")])
    header, last = sheet.table(_("よく読まれた記事"), [_("記事"), _("閲覧数"), _("閲覧者数(日ごとの延べ)")],
                               [[a.title, a.views, a.readers] for a in data.articles])
    sheet.chart("bar", _("よく読まれた記事"), header, last, 2, 2)


def _messages(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("メッセージ"), _("メッセージとメール"), lines)
    rows = [[m.sent_at, m.subject, m.recipients, m.read, _rate(m.read, m.recipients), m.emailed]
            for m in sorted(data.messages, key=lambda m: m.sent_at)]
    header, last = sheet.table(_("一斉メッセージの既読"),
                               [_("配信日時"), _("件名"), _("受信者"), _("既読"), _("既読率"), _("メールでも送付")], rows)
    if rows:
        from openpyxl.chart import BarChart, Reference

        chart = BarChart()
        chart.type, chart.title = "col", _("一斉メッセージの既読")
        chart.y_axis.title = _("人数")
        chart.height, chart.width = 8, 18
        chart.add_data(Reference(sheet.ws, min_col=3, max_col=4, min_row=header, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(sheet.ws, min_col=2, min_row=header + 1, max_row=last))
        sheet.ws.add_chart(chart, f"I{header}")
    mail = data.mail
    rows = [[label, s, b, f] for label, s, b, f in zip(_labels(data), mail.sent, mail.bounced, mail.failed, strict=True)]
    rows.append([_("合計"), sum(mail.sent), sum(mail.bounced), sum(mail.failed)])
    header, last = sheet.table(_("メールの送信・不達"),
                               [data.period.row_header, _("送信"), _("不達"), _("送信失敗")], rows)
    sheet.chart("col", _("メールの送信・不達"), header, last - 1, 2, 4, anchor_col="I" if not data.messages else "S")
    sheet.ws.append([_("メールの開封は計測していません(追跡画像を使わないため)。")])


def _surveys(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("アンケート"), _("アンケート"), lines)
    rows = [[s.title, s.opens, s.closes or "-", s.target if s.target is not None else "-", s.responses,
             Rate(s.rate) if s.rate is not None else "-"] for s in data.surveys]
    header, last = sheet.table(_("アンケートの回答率"),
                               [_("アンケート"), _("受付開始"), _("締切"), _("対象者"), _("回答数"), _("回答率")], rows)
    sheet.chart("bar", _("アンケートの回答数"), header, last, 5, 5)
    rating = data.satisfaction
    rows = [list(row) for row in rating.rows()]
    header, last = sheet.table(_("システムの満足度"), [_("評価"), _("回答数")], rows)
    sheet.chart("bar", _("システムの満足度"), header, last, 2, 2, anchor_col="I" if not data.surveys else "S")
    mean = rating.mean
    sheet.ws.append([_("平均"), round(mean, 2) if mean is not None else "-"])


def _events(wb: Any, data: ReportData, lines: list[str]) -> None:
    sheet = _Sheet(wb, _("イベント"), _("交流イベント"), lines)
    rows = [[e.starts_at, e.title + (_("(中止)") if e.cancelled else ""),
             e.capacity if e.capacity is not None else "-", e.going, e.waitlist, e.attended,
             Rate(e.rate) if e.rate is not None else "-"] for e in data.events]
    header, last = sheet.table(_("イベントの参加と出席"),
                               [_("開始日時"), _("イベント"), _("定員"), _("参加"), _("キャンセル待ち"), _("出席"), _("出席率")],
                               rows)
    per_row = [[b.label, 0, 0, 0] for b in data.period.rows]
    for event in data.events:
        day = to_tokyo(event.starts_at).date()  # type: ignore[union-attr]
        for row, bucket in zip(per_row, data.period.rows, strict=True):
            if bucket.contains(day):
                row[1], row[2], row[3] = row[1] + 1, row[2] + event.going, row[3] + event.attended
    per_header, per_last = sheet.table(_("開催日ごとの参加と出席"), [data.period.row_header, _("開催数"), _("参加"), _("出席")],
                                       per_row)
    sheet.chart("col", _("開催日ごとの参加と出席"), per_header, per_last, 3, 4, anchor_col="J", y_title=_("人数"))
    if rows:
        from openpyxl.chart import BarChart, Reference

        chart = BarChart()
        chart.type, chart.title = "col", _("イベントの参加と出席")
        chart.y_axis.title = _("人数")
        chart.height, chart.width = 8, 18
        for column in (4, 6):
            chart.add_data(Reference(sheet.ws, min_col=column, min_row=header, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(sheet.ws, min_col=2, min_row=header + 1, max_row=last))
        sheet.ws.add_chart(chart, f"T{header}")


# --- producing the file ------------------------------------------------------------------------------------------

@dataclass
class Produced:
    writer: HashingWriter
    record: OutputRecord
    filename: str


def produce(session: Session, period: ReportPeriod, actor: Any, ip: str | None, today: date | None = None,
            progress: Progress | None = None) -> Produced:
    """Gather, write (HashingWriter) and record in the output history (committed)."""
    data = report_data(session, period, today, progress)
    if progress:
        progress("workbook")
    writer = HashingWriter()
    write_workbook(data, writer)
    record = record_output(session, actor, kind=OutputKind.REPORT, title=period.title, filters=period.filters,
                           row_count=len(period.rows), filename=period.filename, sha256=writer.sha256, ip=ip)
    session.commit()
    return Produced(writer, record, period.filename)
