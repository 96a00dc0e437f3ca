"""Reports (帳票, S-A9): counts, sync history, mail history and the registrant list, as data and as xlsx.

Every figure comes from one aggregate SQL query (or one per month), never from loading registrants into
Python. The xlsx files are written to a HashingWriter (constant memory, SHA-256 while writing); the
registrant list uses openpyxl's write-only mode so 100,000 rows stay within memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.codes.models import Code, CodeKind
from app.core.templating import STATUS_LABELS
from app.core.timeutil import fiscal_year, to_tokyo, tokyo_day_start_utc, tokyo_today
from app.mail.models import MailCampaign, OutboxMessage, OutboxStatus
from app.outputs.services import HashingWriter
from app.registrants.models import Registrant, RegistrantStatus, registrant_code
from app.sync.models import SyncRun

HTML_SYNC_ROWS = 500  # newest runs shown on the page; the xlsx has them all
HTML_MAIL_ROWS = 500
FONT = "Meiryo UI"
SCOPES = {"active": _l("有効な登録者"), "all": _l("すべての登録者(匿名化済を除く)")}
RUN_STATUS_LABELS = {"running": _l("実行中"), "succeeded": _l("成功"), "failed": _l("失敗")}
TRIGGER_LABELS = {"timer": _l("定時"), "manual": _l("コマンド"), "staff": _l("管理画面")}
CAMPAIGN_STATUS_LABELS = {"scheduled": _l("予約"), "queued": _l("送信待ち・送信済"), "cancelled": _l("取消")}
OUTBOX_STATUS_LABELS = {"pending": _l("送信待ち"), "sending": _l("送信中"), "sent": _l("送信済"), "failed": _l("送信失敗")}
CATEGORY_LABELS = {"campaign": _l("職員からのお知らせ"), "invitation": _l("招待"), "password_reset": _l("パスワード再設定"),
                   "verification": _l("メールアドレス確認"), "registration_invite": _l("登録の案内"),
                   "already_registered": _l("登録済みの案内"), "withdrawal_request": _l("退会の申し出"),
                   "withdrawal_done": _l("退会の完了"), "renewal": _l("年度更新の案内"),
                   "posting_notice": _l("新着求人のお知らせ")}


# --- the period ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole Tokyo calendar months, [first month, last month]; `fiscal_year` is None for the last 12 months."""

    months: tuple[date, ...]
    fiscal_year: int | None

    @property
    def start_utc(self) -> datetime:
        return tokyo_day_start_utc(self.months[0])

    @property
    def end_utc(self) -> datetime:
        return tokyo_day_start_utc(_next_month(self.months[-1]))

    @property
    def label(self) -> str:
        if self.fiscal_year is not None:
            return _("%(year)d年度(%(start)s〜%(end)s)", year=self.fiscal_year, start=month_label(self.months[0]),
                     end=month_label(self.months[-1]))
        return _("直近12か月(%(start)s〜%(end)s)", start=month_label(self.months[0]), end=month_label(self.months[-1]))

    def describe(self) -> dict[str, Any]:
        return {"fiscal_year": self.fiscal_year, "from": self.months[0].isoformat(),
                "to": _next_month(self.months[-1]).isoformat()}



def period_for(year: int | None, today: date | None = None) -> Period:
    """The chosen fiscal year (April to March), or the 12 months up to and including this one."""
    if year is not None:
        first = date(year, 4, 1)
        return Period(tuple(_add_months(first, n) for n in range(12)), year)
    this_month = (today or tokyo_today()).replace(day=1)
    return Period(tuple(_add_months(this_month, n) for n in range(-11, 1)), None)


def fiscal_year_choices(session: Session, today: date | None = None) -> list[int]:
    """Fiscal years from the first registration (at most ten back) to the current one, newest first."""
    current = fiscal_year(today or tokyo_today())
    first = session.scalar(sa.select(sa.func.min(Registrant.registered_at)))
    oldest = fiscal_year(to_tokyo(first).date()) if first else current  # type: ignore[union-attr]
    return list(range(current, max(oldest, current - 9) - 1, -1))


def month_label(month: date) -> str:
    return _("%(year)d年%(month)d月", year=month.year, month=month.month)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _next_month(month: date) -> date:
    return _add_months(month, 1)


# --- counts ----------------------------------------------------------------------------------------------------

Counts = list[tuple[str, int]]


@dataclass
class CountsReport:
    period: Period
    scope: str
    by_region: Counts
    by_job_type: Counts
    by_status: Counts
    by_month: Counts
    total: int = field(default=0)

    @property
    def sections(self) -> list[tuple[str, Any, Any, Counts]]:
        """(key, title, axis label, rows) in page order."""
        return [("region", _l("地域別"), _l("地域"), self.by_region),
                ("job_type", _l("希望職種別"), _l("希望職種"), self.by_job_type),
                ("status", _l("状態別"), _l("状態"), self.by_status),
                ("month", _l("登録月別"), _l("登録月"), self.by_month)]


def _in_scope(scope: str) -> Any:
    if scope == "active":
        return Registrant.status == RegistrantStatus.ACTIVE.value
    return Registrant.status != RegistrantStatus.ANONYMISED.value


def counts_report(session: Session, period: Period, scope: str = "active") -> CountsReport:
    scope = scope if scope in SCOPES else "active"
    where = _in_scope(scope)
    total = int(session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(where)) or 0)
    return CountsReport(period=period, scope=scope, by_region=_by_region(session, where),
                        by_job_type=_by_job_type(session, where), by_status=_by_status(session),
                        by_month=_by_month(session, period), total=total)


def _by_region(session: Session, where: Any) -> Counts:
    rows = session.execute(
        sa.select(Code.label, sa.func.count(Registrant.id))
        .select_from(Registrant).outerjoin(Code, Code.id == Registrant.region_id).where(where)
        .group_by(Code.id, Code.label, Code.sort_order).order_by(Code.sort_order.is_(None), Code.sort_order, Code.id))
    return [(label if label is not None else _("未設定"), int(count)) for label, count in rows]


def _by_job_type(session: Session, where: Any) -> Counts:
    rows = session.execute(
        sa.select(Code.label, sa.func.count(Registrant.id))
        .select_from(Registrant).join(registrant_code, registrant_code.c.registrant_id == Registrant.id)
        .join(Code, Code.id == registrant_code.c.code_id)
        .where(where, Code.kind == CodeKind.JOB_TYPE.value)
        .group_by(Code.id, Code.label, Code.sort_order).order_by(Code.sort_order, Code.id))
    counts = [(label, int(count)) for label, count in rows]
    any_job = (sa.select(registrant_code.c.registrant_id).join(Code, Code.id == registrant_code.c.code_id)
               .where(registrant_code.c.registrant_id == Registrant.id, Code.kind == CodeKind.JOB_TYPE.value))
    without = int(session.scalar(sa.select(sa.func.count()).select_from(Registrant)
                                 .where(where, ~any_job.exists())) or 0)
    if without or not counts:
        counts.append((_("未設定"), without))
    return counts


def _by_status(session: Session) -> Counts:
    found = dict(session.execute(sa.select(Registrant.status, sa.func.count()).group_by(Registrant.status)).all())
    return [(str(label), int(found.get(status, 0))) for status, label in STATUS_LABELS.items()]


def _by_month(session: Session, period: Period) -> Counts:
    """Registrations per Tokyo calendar month: one indexed range count per month (portable across databases)."""
    rows = []
    for month in period.months:
        count = session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(
            Registrant.registered_at >= tokyo_day_start_utc(month),
            Registrant.registered_at < tokyo_day_start_utc(_next_month(month))))
        rows.append((month_label(month), int(count or 0)))
    return rows


# --- sync and mail history -------------------------------------------------------------------------------------

@dataclass
class SyncReport:
    period: Period
    runs: list[SyncRun]
    total_runs: int
    totals: dict[str, int]


SYNC_TOTALS = ("fetched", "created", "updated", "unchanged", "quarantined", "duplicates", "failed")


def _sync_where(period: Period) -> Any:
    return sa.and_(SyncRun.started_at >= period.start_utc, SyncRun.started_at < period.end_utc)


def sync_report(session: Session, period: Period, limit: int | None = HTML_SYNC_ROWS) -> SyncReport:
    where = _sync_where(period)
    sums = session.execute(sa.select(sa.func.count(), *[sa.func.coalesce(sa.func.sum(getattr(SyncRun, name)), 0)
                                                         for name in SYNC_TOTALS]).where(where)).one()
    failed_runs = session.scalar(sa.select(sa.func.count()).select_from(SyncRun)
                                 .where(where, SyncRun.status == "failed")) or 0
    query = sa.select(SyncRun).where(where).order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    runs = list(session.scalars(query.limit(limit) if limit else query))
    totals = {name: int(value) for name, value in zip(SYNC_TOTALS, sums[1:], strict=True)}
    totals["failed_runs"] = int(failed_runs)
    return SyncReport(period=period, runs=runs, total_runs=int(sums[0]), totals=totals)


@dataclass
class CampaignRow:
    campaign: MailCampaign
    by_status: dict[str, int]


@dataclass
class MailReport:
    period: Period
    campaigns: list[CampaignRow]
    total_campaigns: int
    by_category: list[tuple[str, dict[str, int]]]  # (category label, status -> count) for every mail in the period


def mail_report(session: Session, period: Period, limit: int | None = HTML_MAIL_ROWS) -> MailReport:
    where = sa.and_(MailCampaign.created_at >= period.start_utc, MailCampaign.created_at < period.end_utc)
    total = int(session.scalar(sa.select(sa.func.count()).select_from(MailCampaign).where(where)) or 0)
    query = sa.select(MailCampaign).where(where).order_by(MailCampaign.created_at.desc(), MailCampaign.id.desc())
    campaigns = list(session.scalars(query.limit(limit) if limit else query))
    counts: dict[int, dict[str, int]] = {c.id: {} for c in campaigns}
    if campaigns:
        rows = session.execute(sa.select(OutboxMessage.campaign_id, OutboxMessage.status, sa.func.count())
                               .where(OutboxMessage.campaign_id.in_(list(counts)))
                               .group_by(OutboxMessage.campaign_id, OutboxMessage.status))
        for campaign_id, status, count in rows:
            counts[campaign_id][status] = int(count)
    category = sa.case((sa.and_(OutboxMessage.campaign_id.is_not(None), OutboxMessage.category != "posting_notice"),
                        "campaign"), else_=OutboxMessage.category)
    by_category: dict[str, dict[str, int]] = {}
    for name, status, count in session.execute(
            sa.select(category, OutboxMessage.status, sa.func.count())
            .where(OutboxMessage.created_at >= period.start_utc, OutboxMessage.created_at < period.end_utc)
            .group_by(category, OutboxMessage.status)):
        by_category.setdefault(name, {})[status] = int(count)
    ordered = sorted(by_category.items(), key=lambda item: (item[0] != "campaign", item[0]))
    return MailReport(period=period, campaigns=[CampaignRow(c, counts[c.id]) for c in campaigns],
                      total_campaigns=total,
                      by_category=[(str(CATEGORY_LABELS.get(name, name)), statuses) for name, statuses in ordered])


def outbox_statuses() -> list[tuple[str, str]]:
    return [(status.value, str(OUTBOX_STATUS_LABELS[status.value])) for status in OutboxStatus]


# --- xlsx ------------------------------------------------------------------------------------------------------

class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.title = Font(name=FONT, size=14, bold=True)
        self.body = Font(name=FONT, size=10)
        self.header = Font(name=FONT, size=10, bold=True, color="FFFFFF")
        self.header_fill = PatternFill("solid", fgColor="305496")
        self.wrap = Alignment(vertical="top", wrap_text=True)


def _sheet_heading(ws: Any, styles: _Styles, title: str, lines: Iterable[str]) -> int:
    ws.append([title])
    ws.cell(row=1, column=1).font = styles.title
    for line in lines:
        ws.append([line])
    ws.append([])
    return ws.max_row + 1


def _header_row(ws: Any, styles: _Styles, row: int, headers: list[str]) -> None:
    for column, text in enumerate(headers, start=1):
        cell = ws.cell(row=row, column=column, value=text)
        cell.font, cell.fill = styles.header, styles.header_fill


def _print_setup(ws: Any, header_row: int, landscape: bool = False) -> None:
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # before the first row: write-only sheets stream out
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = f"{header_row}:{header_row}"


def report_lines(printed_by: str, printed_at: datetime, condition: str) -> list[str]:
    stamp = to_tokyo(printed_at).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    return [_("出力日時: %(at)s / 出力者: %(by)s", at=stamp, by=printed_by), _("条件: %(condition)s", condition=condition)]


def counts_workbook(report: CountsReport, lines: list[str], writer: HashingWriter) -> None:
    """One sheet per breakdown: a table and a native bar chart beside it."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    wb = Workbook()
    wb.remove(wb.active)
    styles = _Styles()
    for key, title, axis, rows in report.sections:
        ws = wb.create_sheet(str(title))
        heading = _("登録者数(%(title)s)", title=title)
        scope = _("対象: %(scope)s", scope=SCOPES[report.scope]) if key in {"region", "job_type"} else \
            (_("対象: すべての登録者") if key == "status" else _("期間: %(period)s", period=report.period.label))
        start = _sheet_heading(ws, styles, heading, [*lines, scope])
        _header_row(ws, styles, start, [str(axis), _("人数")])
        for label, count in rows:
            ws.append([label, count])
        ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 28, 10
        if rows:
            chart = BarChart()
            chart.type = "bar" if key != "month" else "col"
            chart.title, chart.legend = heading, None
            chart.y_axis.title = _("人数")
            chart.add_data(Reference(ws, min_col=2, min_row=start, max_row=start + len(rows)), titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=start + 1, max_row=start + len(rows)))
            chart.height, chart.width = max(7.5, 0.6 * len(rows) + 3), 16
            if chart.type == "bar":
                chart.x_axis.scaling.orientation = "maxMin"  # first row at the top, as in the table
            ws.add_chart(chart, f"D{start}")
        _print_setup(ws, start, landscape=True)
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu"
    wb.save(writer)


def sync_workbook(report: SyncReport, lines: list[str], writer: HashingWriter) -> None:
    headers = [_("開始日時"), _("終了日時"), _("連携元"), _("きっかけ"), _("状態"), _("取得"), _("新規"), _("更新"),
               _("変更なし"), _("隔離"), _("重複候補"), _("失敗"), _("失敗理由")]
    rows = ([_local(run.started_at), _local(run.finished_at), run.source, str(TRIGGER_LABELS.get(run.trigger, run.trigger)),
             str(RUN_STATUS_LABELS.get(run.status, run.status)), run.fetched, run.created, run.updated, run.unchanged,
             run.quarantined, run.duplicates, run.failed, run.error or ""] for run in report.runs)
    _write_only_table(writer, _("同期履歴"), lines, headers, rows, widths=[17, 17, 14, 10, 8] + [8] * 7 + [40])


def mail_workbook(report: MailReport, lines: list[str], writer: HashingWriter) -> None:
    statuses = outbox_statuses()
    headers = [_("作成日時"), _("送信開始日時"), _("件名"), _("作成者"), _("状態"), _("宛先数"), _("除外"),
               *[label for _s, label in statuses]]
    rows = ([_local(row.campaign.created_at), _local(row.campaign.scheduled_at), row.campaign.subject_template,
             row.campaign.created_by_name, str(CAMPAIGN_STATUS_LABELS.get(row.campaign.status, row.campaign.status)),
             row.campaign.recipient_count, row.campaign.skipped_count,
             *[row.by_status.get(status, 0) for status, _label in statuses]] for row in report.campaigns)
    summary = [[label, *[counts.get(status, 0) for status, _label in statuses]] for label, counts in report.by_category]
    _write_only_table(writer, _("メール送信履歴"), lines, headers, rows, widths=[17, 17, 40, 16, 14, 8, 8, 10, 8, 8, 10],
                      extra=(_("種類別の送信数"), [_("種類"), *[label for _s, label in statuses]], summary))


def registrant_workbook(title: str, lines: list[str], headers: list[str], rows: Iterable[list[Any]],
                        writer: HashingWriter) -> int:
    """The registrant list (write-only, streamed); returns the number of data rows written."""
    counter = _Counter(rows)
    _write_only_table(writer, title, lines, headers, counter, widths=[14] * len(headers), landscape=True)
    return counter.count


class _Counter:
    def __init__(self, rows: Iterable[list[Any]]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[list[Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def _write_only_table(writer: HashingWriter, title: str, lines: list[str], headers: list[str],
                      rows: Iterable[list[Any]], *, widths: list[int], landscape: bool = False,
                      extra: tuple[str, list[str], list[list[Any]]] | None = None) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    from app.handover.services import xlsx_text

    wb = Workbook(write_only=True)
    styles = _Styles()
    ws = wb.create_sheet(title[:31])
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[_column(index)].width = width
    header_row = len(lines) + 3
    _print_setup(ws, header_row, landscape=landscape or len(headers) > 8)
    ws.freeze_panes = f"A{header_row + 1}"
    ws.append([_cell(ws, title, styles.title)])
    for line in lines:
        ws.append([_cell(ws, line, styles.body)])
    ws.append([])
    ws.append([_cell(ws, text, styles.header, styles.header_fill) for text in headers])

    def value(item: Any) -> Any:
        if isinstance(item, str):
            cell = WriteOnlyCell(ws, value=xlsx_text(item))
            cell.data_type = "s"  # never a formula, whatever the text starts with
            return cell
        if isinstance(item, date) and not isinstance(item, datetime):
            cell = WriteOnlyCell(ws, value=item)
            cell.number_format = "yyyy-mm-dd"
            return cell
        return item

    for row in rows:
        ws.append([value(item) for item in row])
    if extra:
        extra_title, extra_headers, extra_rows = extra
        summary = wb.create_sheet(extra_title[:31])
        summary.append([_cell(summary, extra_title, styles.title)])
        summary.append([])
        summary.append([_cell(summary, text, styles.header, styles.header_fill) for text in extra_headers])
        summary.column_dimensions["A"].width = 24
        for row in extra_rows:
            summary.append(row)
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu"
    wb.save(writer)


def _cell(ws: Any, value: Any, font: Any = None, fill: Any = None) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell


def _column(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def _local(moment: datetime | None) -> str:
    local = to_tokyo(moment)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


# --- the registrant list -----------------------------------------------------------------------------------

HTML_REGISTRANT_ROWS = 2000  # rows on screen and in the print view; the xlsx has every row
CRITERIA_LABELS = {"name": _l("氏名・フリガナ"), "text": _l("フリーワード"), "age": _l("年齢"), "regions": _l("居住地域"),
                   "licences": _l("免許"), "subjects": _l("教科"), "job_types": _l("希望職種"),
                   "school_types": _l("希望校種"), "tags": _l("タグ"), "statuses": _l("状態"), "registered": _l("登録日")}


def criteria_text(session: Session, criteria: dict[str, Any]) -> str:
    """The search criteria as a line a person reads on the printed list (「居住地域: 長崎、五島」…)."""
    negated = set(criteria.get("not", []))
    ids = [i for key, value in criteria.items() if key.endswith("s") and key != "statuses" and isinstance(value, list)
           for i in value]
    labels = dict(session.execute(sa.select(Code.id, Code.label).where(Code.id.in_(ids))).all()) if ids else {}
    parts = []
    for key, label in CRITERIA_LABELS.items():
        value = _criterion_value(criteria, key, labels)
        if value:
            parts.append(f"{label}: {value}" + (_("(以外)") if key in negated else ""))
    return " / ".join(parts) or _("条件なし(すべての登録者)")


def _criterion_value(criteria: dict[str, Any], key: str, labels: dict[int, str]) -> str:
    if key == "age":
        low, high = criteria.get("age_min"), criteria.get("age_max")
        return "" if low is None and high is None else f"{'' if low is None else low}〜{'' if high is None else high}"
    if key == "registered":
        start, end = criteria.get("registered_from"), criteria.get("registered_to")
        return "" if not start and not end else f"{start or ''}〜{end or ''}"
    value = criteria.get(key)
    if not value:
        return ""
    if key == "statuses":
        return "、".join(str(STATUS_LABELS.get(status, status)) for status in value)
    if isinstance(value, list):
        return "、".join(labels.get(i, str(i)) for i in value)
    return f"「{value}」"


# --- matching and the pipeline (S-A13) ---------------------------------------------------------------------

HTML_POSTING_ROWS = 500
STAGES = ("proposed", "contacted", "interviewing", "hired", "declined")
STAGE_LABELS = {"proposed": _l("提案"), "contacted": _l("連絡済"), "interviewing": _l("面接中"), "hired": _l("採用"),
                "declined": _l("辞退")}
POSTING_STATUS_LABELS = {"draft": _l("下書き"), "open": _l("募集中"), "filled": _l("充足"), "closed": _l("終了")}


@dataclass
class PostingRow:
    id: int
    title: str
    school: str
    region: str
    status: str
    openings: int
    by_stage: dict[str, int]

    @property
    def candidates(self) -> int:
        return sum(self.by_stage.values())

    @property
    def hired(self) -> int:
        return self.by_stage.get("hired", 0)


@dataclass
class RegionRow:
    region: str
    postings: int
    candidates: int
    hired: int


@dataclass
class MonthRow:
    month: str
    added: int
    hired: int


@dataclass
class MatchingReport:
    period: Period
    postings: list[PostingRow]
    total_postings: int
    by_region: list[RegionRow]
    by_month: list[MonthRow]
    totals: dict[str, int]

    @property
    def region_candidates(self) -> Counts:
        return [(row.region, row.candidates) for row in self.by_region]

    @property
    def month_added(self) -> Counts:
        return [(row.month, row.added) for row in self.by_month]

    @property
    def month_hired(self) -> Counts:
        return [(row.month, row.hired) for row in self.by_month]


def _postings_in_period(period: Period) -> Any:
    """Postings that were live during the period: published (not a draft), created before its end and not
    closed before its start. Their candidates are counted whatever the stage's date."""
    from app.postings.models import JobPosting, PostingStatus

    return sa.and_(JobPosting.status != PostingStatus.DRAFT.value, JobPosting.created_at < period.end_utc,
                   sa.or_(JobPosting.closed_at.is_(None), JobPosting.closed_at >= period.start_utc))


def matching_report(session: Session, period: Period, limit: int | None = HTML_POSTING_ROWS) -> MatchingReport:
    from app.matching.models import MatchCandidate
    from app.postings.models import JobPosting

    where = _postings_in_period(period)
    total = int(session.scalar(sa.select(sa.func.count()).select_from(JobPosting).where(where)) or 0)
    query = (sa.select(JobPosting.id, JobPosting.title, JobPosting.school_name, Code.label, JobPosting.status,
                       JobPosting.openings)
             .join(Code, Code.id == JobPosting.region_id).where(where)
             .order_by(JobPosting.created_at.desc(), JobPosting.id.desc()))
    postings = [PostingRow(pid, title, school, region, status, openings, {})
                for pid, title, school, region, status, openings in session.execute(query.limit(limit) if limit
                                                                                    else query)]
    stage_counts = (sa.select(MatchCandidate.posting_id, MatchCandidate.stage, sa.func.count())
                    .join(JobPosting, JobPosting.id == MatchCandidate.posting_id).where(where)
                    .group_by(MatchCandidate.posting_id, MatchCandidate.stage))
    by_id = {row.id: row for row in postings}
    totals = dict.fromkeys(STAGES, 0)
    for posting_id, stage, count in session.execute(stage_counts):
        totals[stage] = totals.get(stage, 0) + int(count)
        if posting_id in by_id:
            by_id[posting_id].by_stage[stage] = int(count)
    totals["postings"], totals["candidates"] = total, sum(totals[s] for s in STAGES)
    return MatchingReport(period=period, postings=postings, total_postings=total,
                          by_region=_matching_by_region(session, where), by_month=_matching_by_month(session, period),
                          totals=totals)


def _matching_by_region(session: Session, where: Any) -> list[RegionRow]:
    from app.matching.models import MatchCandidate
    from app.postings.models import JobPosting

    candidates = (sa.select(MatchCandidate.posting_id, sa.func.count().label("candidates"),
                            sa.func.sum(sa.case((MatchCandidate.stage == "hired", 1), else_=0)).label("hired"))
                  .group_by(MatchCandidate.posting_id).subquery())
    rows = session.execute(
        sa.select(Code.label, sa.func.count(JobPosting.id), sa.func.coalesce(sa.func.sum(candidates.c.candidates), 0),
                  sa.func.coalesce(sa.func.sum(candidates.c.hired), 0))
        .select_from(JobPosting).join(Code, Code.id == JobPosting.region_id)
        .outerjoin(candidates, candidates.c.posting_id == JobPosting.id).where(where)
        .group_by(Code.id, Code.label, Code.sort_order).order_by(Code.sort_order, Code.id))
    return [RegionRow(label, int(postings), int(count), int(hired)) for label, postings, count, hired in rows]


def _matching_by_month(session: Session, period: Period) -> list[MonthRow]:
    """Per Tokyo month: candidates added (created_at) and candidates hired (stage_changed_at of a hired row)."""
    from app.matching.models import MatchCandidate

    rows = []
    for month in period.months:
        start, end = tokyo_day_start_utc(month), tokyo_day_start_utc(_next_month(month))
        added = session.scalar(sa.select(sa.func.count()).select_from(MatchCandidate).where(
            MatchCandidate.created_at >= start, MatchCandidate.created_at < end))
        hired = session.scalar(sa.select(sa.func.count()).select_from(MatchCandidate).where(
            MatchCandidate.stage == "hired", MatchCandidate.stage_changed_at >= start,
            MatchCandidate.stage_changed_at < end))
        rows.append(MonthRow(month_label(month), int(added or 0), int(hired or 0)))
    return rows


def stage_labels() -> list[tuple[str, str]]:
    return [(stage, str(STAGE_LABELS[stage])) for stage in STAGES]


def matching_workbook(report: MatchingReport, lines: list[str], writer: HashingWriter) -> None:
    """Three sheets: per posting (table), per region and per month (table and a native bar chart)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    styles = _Styles()
    stages = stage_labels()
    ws = wb.create_sheet(_("求人別"))
    start = _sheet_heading(ws, styles, _("マッチング・選考状況(求人別)"),
                           [*lines, _("期間: %(period)s", period=report.period.label)])
    _header_row(ws, styles, start, [_("求人ID"), _("求人名"), _("学校名"), _("地域"), _("状態"), _("募集人数"),
                                    _("候補者数"), *[label for _s, label in stages]])
    for row in report.postings:
        _append_text_safe(ws, [row.id, row.title, row.school, row.region,
                               str(POSTING_STATUS_LABELS.get(row.status, row.status)), row.openings, row.candidates,
                               *[row.by_stage.get(stage, 0) for stage, _label in stages]])
    for column, width in zip("ABCDEFGHIJKL", [8, 36, 24, 14, 8, 8, 8, 8, 8, 8, 8, 8], strict=True):
        ws.column_dimensions[column].width = width
    _print_setup(ws, start, landscape=True)
    _chart_sheet(ws=wb.create_sheet(_("地域別")), styles=styles, lines=lines,
                 title=_("マッチング・選考状況(地域別)"), headers=[_("地域"), _("求人数"), _("候補者数"), _("採用")],
                 rows=[[r.region, r.postings, r.candidates, r.hired] for r in report.by_region], kind="bar")
    _chart_sheet(ws=wb.create_sheet(_("月別")), styles=styles, lines=lines,
                 title=_("マッチング・選考状況(月別)"), headers=[_("月"), _("候補者の追加"), _("採用")],
                 rows=[[r.month, r.added, r.hired] for r in report.by_month], kind="col")
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu"
    wb.save(writer)


def _chart_sheet(*, ws: Any, styles: _Styles, lines: list[str], title: str, headers: list[str],
                 rows: list[list[Any]], kind: str) -> None:
    from openpyxl.chart import BarChart, Reference

    start = _sheet_heading(ws, styles, title, lines)
    _header_row(ws, styles, start, headers)
    for row in rows:
        _append_text_safe(ws, row)
    ws.column_dimensions["A"].width = 20
    if rows:
        chart = BarChart()
        chart.type, chart.title = kind, title
        chart.add_data(Reference(ws, min_col=len(headers) - 1, max_col=len(headers), min_row=start,
                                 max_row=start + len(rows)), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=start + 1, max_row=start + len(rows)))
        chart.height, chart.width = max(7.5, 0.6 * len(rows) + 3), 16
        if kind == "bar":
            chart.x_axis.scaling.orientation = "maxMin"
        ws.add_chart(chart, f"{chr(ord('A') + len(headers) + 1)}{start}")
    _print_setup(ws, start, landscape=True)


def _append_text_safe(ws: Any, values: list[Any]) -> None:
    """Append a row; text stays text (a title starting with "=" is never a formula)."""
    from app.handover.services import xlsx_text

    ws.append([xlsx_text(value) if isinstance(value, str) else value for value in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
