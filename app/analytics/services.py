"""The figures of the analytics dashboard and the reports (N5, N10, N15), all aggregated in SQL.

Time runs in Tokyo calendar days. A series is split into buckets (days, weeks or months); closed days
come from the daily summaries (`page_view_daily`, `active_day`), the current day is counted live from
`page_view`. Other tables are asked directly with one CASE-per-bucket query (one scan, any database).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.analytics.models import ActiveDay, PageView, PageViewDaily
from app.analytics.recording import LOGIN_ENDPOINT
from app.analytics.rollup import TOTAL
from app.articles.models import Article
from app.codes.models import Code
from app.core.templating import STATUS_LABELS
from app.core.timeutil import tokyo_day_start_utc, tokyo_today
from app.events.models import Event, EventRsvp, RsvpStatus
from app.inbox.models import Message, MessageRecipient
from app.inquiries.models import Inquiry, InquiryStatus
from app.mail.models import OutboxMessage, OutboxStatus
from app.registrants.models import Registrant, RegistrantStatus, StatusChange
from app.surveys.models import Audience, Survey, SurveyAnswer, SurveyKind, SurveyResponse

ARTICLE_ENDPOINT = "portal_articles.show"
RENEWED_REASON = "renewed"  # app.lifecycle.services.renew writes this reason
PERIODS = {"days": _l("直近30日(日別)"), "weeks": _l("直近12週(週別)"), "months": _l("直近12か月(月別)")}
DEFAULT_PERIOD = "days"
LIST_LIMIT = 10
RATING_LABELS = {5: _l("とても満足"), 4: _l("満足"), 3: _l("ふつう"), 2: _l("不満"), 1: _l("とても不満")}


# --- buckets ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    """Tokyo calendar days [start, end)."""

    label: str
    short: str
    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_label(month: date) -> str:
    return _("%(year)d年%(month)d月", year=month.year, month=month.month)


def day_buckets(first: date, last: date) -> list[Bucket]:
    count = (last - first).days + 1
    return [Bucket(f"{d:%Y-%m-%d}", f"{d.month}/{d.day}", d, d + timedelta(days=1))
            for d in (first + timedelta(days=n) for n in range(count))]


def month_buckets(first_month: date, count: int) -> list[Bucket]:
    months = [add_months(first_month, n) for n in range(count)]
    return [Bucket(month_label(m), _("%(month)d月", month=m.month), m, add_months(m, 1)) for m in months]


def buckets_for(period: str, today: date) -> list[Bucket]:
    """The dashboard's buckets: the last 30 days, the last 12 weeks (Monday to Sunday) or the last 12 months."""
    if period == "weeks":
        monday = today - timedelta(days=today.weekday())
        starts = [monday - timedelta(weeks=n) for n in range(11, -1, -1)]
        return [Bucket(_("%(day)sからの週", day=f"{s:%Y-%m-%d}"), f"{s.month}/{s.day}", s, s + timedelta(days=7))
                for s in starts]
    if period == "months":
        return month_buckets(add_months(today.replace(day=1), -11), 12)
    return day_buckets(today - timedelta(days=29), today)


def _utc(day: date) -> datetime:
    return tokyo_day_start_utc(day)


def _counts_per_bucket(session: Session, column: Any, buckets: Sequence[Bucket], *where: Any) -> list[int]:
    """How many rows have `column` (a UTC timestamp) in each bucket: one query, one SUM(CASE) per bucket."""
    if not buckets:
        return []
    sums = [sa.func.coalesce(sa.func.sum(sa.case((sa.and_(column >= _utc(b.start), column < _utc(b.end)), 1),
                                                 else_=0)), 0) for b in buckets]
    row = session.execute(sa.select(*sums).where(column >= _utc(buckets[0].start), column < _utc(buckets[-1].end),
                                                 *where)).one()
    return [int(value) for value in row]


# --- registrants -----------------------------------------------------------------------------------------------

@dataclass
class RegistrantFlow:
    new: list[int]
    renewed: list[int]
    expired: list[int]


def registrant_flow(session: Session, buckets: Sequence[Bucket]) -> RegistrantFlow:
    return RegistrantFlow(
        new=_counts_per_bucket(session, Registrant.registered_at, buckets),
        renewed=_counts_per_bucket(session, StatusChange.changed_at, buckets, StatusChange.reason == RENEWED_REASON),
        expired=_counts_per_bucket(session, StatusChange.changed_at, buckets,
                                   StatusChange.to_status == RegistrantStatus.EXPIRED.value))


def status_totals(session: Session) -> list[tuple[str, int]]:
    """(status label, registrants) now, in the usual status order."""
    found = dict(session.execute(sa.select(Registrant.status, sa.func.count()).group_by(Registrant.status)).all())
    return [(str(label), int(found.get(status, 0))) for status, label in STATUS_LABELS.items()]


def _status_at(end_utc: datetime) -> Any:
    """A registrant's status at `end_utc`: the last change before it, else the state the first later change
    left, else the status now (rows created without history)."""
    before = (sa.select(StatusChange.to_status).where(StatusChange.registrant_id == Registrant.id,
                                                      StatusChange.changed_at < end_utc)
              .order_by(StatusChange.changed_at.desc(), StatusChange.id.desc()).limit(1).scalar_subquery())
    after = (sa.select(StatusChange.from_status).where(StatusChange.registrant_id == Registrant.id,
                                                       StatusChange.changed_at >= end_utc)
             .order_by(StatusChange.changed_at, StatusChange.id).limit(1).scalar_subquery())
    return sa.func.coalesce(before, after, Registrant.status)


def totals_at(session: Session, end_day: date) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(by status, active by region) of the registrants registered before the Tokyo day `end_day` began."""
    end_utc = _utc(end_day)
    status = _status_at(end_utc).label("status")
    rows = session.execute(sa.select(status, Registrant.region_id, sa.func.count())
                           .where(Registrant.registered_at < end_utc).group_by(status, Registrant.region_id)).all()
    by_status: dict[str, int] = {}
    by_region: dict[int | None, int] = {}
    for state, region_id, count in rows:
        by_status[state] = by_status.get(state, 0) + int(count)
        if state == RegistrantStatus.ACTIVE.value:
            by_region[region_id] = by_region.get(region_id, 0) + int(count)
    regions = session.execute(sa.select(Code.id, Code.label).where(Code.kind == "region")
                              .order_by(Code.sort_order, Code.id)).all()
    region_rows = [(label, by_region.pop(code_id, 0)) for code_id, label in regions]
    leftover = sum(by_region.values())
    if leftover:
        region_rows.append((_("未設定"), leftover))
    return [(str(label), by_status.get(s, 0)) for s, label in STATUS_LABELS.items()], region_rows


# --- access ------------------------------------------------------------------------------------------------------

@dataclass
class Access:
    views: list[int]
    logins: list[int]
    active: list[int]  # distinct registrants active in each bucket (DAU / WAU / MAU)


def _today_counts(session: Session, today: date) -> tuple[int, int]:
    """(screen views, logins) of the current Tokyo day so far, from the raw rows."""
    is_login = sa.case((PageView.endpoint == LOGIN_ENDPOINT, 1), else_=0)
    row = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(is_login), 0))
                          .where(PageView.viewed_at >= _utc(today))).one()
    total, logins = int(row[0]), int(row[1])
    return total - logins, logins


def access_series(session: Session, buckets: Sequence[Bucket], today: date | None = None) -> Access:
    today = today or tokyo_today()
    if not buckets:
        return Access([], [], [])
    first, end = buckets[0].start, buckets[-1].end
    per_day: dict[tuple[date, str], int] = {}
    for day, endpoint, views in session.execute(
            sa.select(PageViewDaily.day, PageViewDaily.endpoint, PageViewDaily.views)
            .where(PageViewDaily.day >= first, PageViewDaily.day < min(end, today),
                   PageViewDaily.endpoint.in_([TOTAL, LOGIN_ENDPOINT]))):
        per_day[(day, endpoint)] = int(views)
    if first <= today < end:
        per_day[(today, TOTAL)], per_day[(today, LOGIN_ENDPOINT)] = _today_counts(session, today)
    views = [sum(v for (d, e), v in per_day.items() if e == TOTAL and b.contains(d)) for b in buckets]
    logins = [sum(v for (d, e), v in per_day.items() if e == LOGIN_ENDPOINT and b.contains(d)) for b in buckets]
    return Access(views, logins, active_series(session, buckets, today))


def active_series(session: Session, buckets: Sequence[Bucket], today: date) -> list[int]:
    if all(b.end - b.start == timedelta(days=1) for b in buckets):  # one grouped query for daily buckets
        found = dict(session.execute(
            sa.select(ActiveDay.day, sa.func.count()).where(ActiveDay.day >= buckets[0].start,
                                                            ActiveDay.day < min(buckets[-1].end, today))
            .group_by(ActiveDay.day)).all())
        if buckets[0].start <= today < buckets[-1].end:
            found[today] = active_count(session, today, today + timedelta(days=1), today)
        return [int(found.get(b.start, 0)) for b in buckets]
    return [active_count(session, b.start, b.end, today) for b in buckets]


def active_count(session: Session, start: date, end: date, today: date | None = None) -> int:
    """Distinct registrants who used the site on the Tokyo days [start, end): summaries plus today live."""
    today = today or tokyo_today()
    parts: list[Any] = []
    if start < min(end, today):
        parts.append(sa.select(ActiveDay.registrant_id).where(ActiveDay.day >= start, ActiveDay.day < min(end, today)))
    if start <= today < end:
        # no "registrant_id IS NOT NULL" here: it tempts SQLite to walk the registrant index over every row
        # instead of the viewed_at range; COUNT(column) below skips the anonymous NULL anyway
        parts.append(sa.select(PageView.registrant_id).where(PageView.viewed_at >= _utc(today),
                                                             PageView.viewed_at < _utc(today + timedelta(days=1))))
    if not parts:
        return 0
    # UNION drops duplicates: someone active on a summarised day and today counts once
    inner = (sa.union(*parts) if len(parts) > 1 else parts[0].distinct()).subquery()
    return int(session.scalar(sa.select(sa.func.count(inner.c.registrant_id))) or 0)


@dataclass
class ArticleRow:
    article_id: int
    title: str
    views: int
    readers: int


def top_articles(session: Session, start: date, end: date, today: date | None = None,
                 limit: int = LIST_LIMIT) -> list[ArticleRow]:
    """The most-read articles on the days [start, end) (reads = views of the article page)."""
    today = today or tokyo_today()
    reads: dict[int, list[int]] = {}
    for subject, views, visitors in session.execute(
            sa.select(PageViewDaily.subject_id, sa.func.sum(PageViewDaily.views), sa.func.sum(PageViewDaily.visitors))
            .where(PageViewDaily.endpoint == ARTICLE_ENDPOINT, PageViewDaily.day >= start,
                   PageViewDaily.day < min(end, today))
            .group_by(PageViewDaily.subject_id)):
        reads[int(subject)] = [int(views), int(visitors)]
    if start <= today < end:
        for subject, views, visitors in session.execute(
                sa.select(PageView.subject_id, sa.func.count(), sa.func.count(sa.distinct(PageView.registrant_id)))
                .where(PageView.viewed_at >= _utc(today), PageView.endpoint == ARTICLE_ENDPOINT,
                       PageView.subject_id.is_not(None)).group_by(PageView.subject_id)):
            entry = reads.setdefault(int(subject), [0, 0])
            entry[0] += int(views)
            entry[1] += int(visitors)  # a reader of several days counts once per day
    ranked = sorted(reads.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    titles = dict(session.execute(sa.select(Article.id, Article.title)
                                  .where(Article.id.in_([k for k, _v in ranked]))).all()) if ranked else {}
    return [ArticleRow(article_id, titles.get(article_id, _("(削除された記事)")), views, readers)
            for article_id, (views, readers) in ranked]


def missing_summary_days(session: Session, first: date, end: date) -> int:
    """Closed days in [first, end) whose summary has not been made yet."""
    from app.analytics.rollup import missing_days

    return len(missing_days(session, first, end - timedelta(days=1)))


# --- messages and mail -------------------------------------------------------------------------------------------

@dataclass
class MessageRow:
    subject: str
    sent_at: datetime
    recipients: int
    read: int
    emailed: int

    @property
    def rate(self) -> float | None:
        return self.read / self.recipients if self.recipients else None


def message_reads(session: Session, start: date, end: date, limit: int | None = LIST_LIMIT) -> list[MessageRow]:
    """Bulk messages delivered on the days [start, end), newest first, with their inbox read counts."""
    query = (sa.select(Message.subject, Message.sent_at, sa.func.count(MessageRecipient.registrant_id),
                       sa.func.count(MessageRecipient.read_at),
                       sa.func.coalesce(sa.func.sum(sa.case((MessageRecipient.emailed.is_(True), 1), else_=0)), 0))
             .outerjoin(MessageRecipient, MessageRecipient.message_id == Message.id)
             .where(Message.sent_at >= _utc(start), Message.sent_at < _utc(end))
             .group_by(Message.id, Message.subject, Message.sent_at)
             .order_by(Message.sent_at.desc(), Message.id.desc()))
    if limit:
        query = query.limit(limit)
    return [MessageRow(subject, sent_at, int(total), int(read), int(emailed))
            for subject, sent_at, total, read, emailed in session.execute(query)]


@dataclass
class MailSeries:
    sent: list[int]
    bounced: list[int]
    failed: list[int]


def mail_series(session: Session, buckets: Sequence[Bucket]) -> MailSeries:
    return MailSeries(sent=_counts_per_bucket(session, OutboxMessage.sent_at, buckets,
                                              OutboxMessage.status == OutboxStatus.SENT.value),
                      bounced=_counts_per_bucket(session, OutboxMessage.bounced_at, buckets),
                      failed=_counts_per_bucket(session, OutboxMessage.created_at, buckets,
                                                OutboxMessage.status == OutboxStatus.FAILED.value))


# --- surveys ---------------------------------------------------------------------------------------------------

@dataclass
class SurveyRow:
    title: str
    opens: datetime | None
    closes: datetime | None
    target: int | None  # None: not countable (the saved search is gone)
    responses: int

    @property
    def rate(self) -> float | None:
        return self.responses / self.target if self.target else None


def _survey_target(session: Session, survey: Survey, active: int) -> int | None:
    if survey.audience == Audience.ALL_ACTIVE.value:
        return active
    if survey.audience == Audience.SAVED_SEARCH.value and survey.saved_search_id:
        from app.searches.models import SavedSearch
        from app.searches.services import count_matching, criteria_from_json

        saved = session.get(SavedSearch, survey.saved_search_id)
        return count_matching(session, criteria_from_json(saved.criteria)) if saved else None
    return None


def survey_rates(session: Session, start: date, end: date, limit: int | None = LIST_LIMIT) -> list[SurveyRow]:
    """Published surveys open at some time in [start, end), with responses received before `end`."""
    end_utc = _utc(end)
    opened = sa.func.coalesce(Survey.opens_at, Survey.published_at)
    query = (sa.select(Survey).where(Survey.kind == SurveyKind.SURVEY.value, Survey.published_at.is_not(None),
                                     opened < end_utc,
                                     sa.or_(Survey.closes_at.is_(None), Survey.closes_at >= _utc(start)))
             .order_by(opened.desc(), Survey.id.desc()))
    surveys = list(session.scalars(query.limit(limit) if limit else query))
    if not surveys:
        return []
    counts = dict(session.execute(sa.select(SurveyResponse.survey_id, sa.func.count())
                                  .where(SurveyResponse.survey_id.in_([s.id for s in surveys]),
                                         SurveyResponse.submitted_at < end_utc)
                                  .group_by(SurveyResponse.survey_id)).all())
    active = int(session.scalar(sa.select(sa.func.count()).select_from(Registrant)
                                .where(Registrant.status == RegistrantStatus.ACTIVE.value)) or 0)
    return [SurveyRow(s.title, s.opens_at or s.published_at, s.closes_at, _survey_target(session, s, active),
                      int(counts.get(s.id, 0))) for s in surveys]


@dataclass
class Satisfaction:
    ratings: dict[int, int] = field(default_factory=lambda: {n: 0 for n in range(1, 6)})

    @property
    def count(self) -> int:
        return sum(self.ratings.values())

    @property
    def mean(self) -> float | None:
        return sum(k * v for k, v in self.ratings.items()) / self.count if self.count else None

    def rows(self) -> list[tuple[str, int]]:
        """(label, ratings) from 5 down to 1."""
        return [(_("%(n)d(%(label)s)", n=n, label=RATING_LABELS[n]), self.ratings[n]) for n in range(5, 0, -1)]


def satisfaction(session: Session, start: date, end: date) -> Satisfaction:
    """Ratings (1–5) of the built-in satisfaction survey given (or last changed) on the days [start, end)."""
    result = Satisfaction()
    rows = session.execute(
        sa.select(SurveyAnswer.rating, sa.func.count())
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(Survey.kind == SurveyKind.SATISFACTION.value, SurveyAnswer.rating.is_not(None),
               SurveyResponse.updated_at >= _utc(start), SurveyResponse.updated_at < _utc(end))
        .group_by(SurveyAnswer.rating))
    for rating, count in rows:
        if int(rating) in result.ratings:
            result.ratings[int(rating)] += int(count)
    return result


# --- events ----------------------------------------------------------------------------------------------------

@dataclass
class EventRow:
    title: str
    starts_at: datetime
    capacity: int | None
    going: int
    waitlist: int
    attended: int
    cancelled: bool

    @property
    def rate(self) -> float | None:
        return self.attended / self.going if self.going else None


def event_attendance(session: Session, start: date, end: date, limit: int | None = LIST_LIMIT) -> list[EventRow]:
    """Published events starting on the days [start, end), in date order, with RSVPs and attendance."""
    def status_is(status: str) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((EventRsvp.status == status, 1), else_=0)), 0)

    attended = sa.func.coalesce(sa.func.sum(sa.case((EventRsvp.attended.is_(True), 1), else_=0)), 0)
    query = (sa.select(Event.title, Event.starts_at, Event.capacity, Event.cancelled_at, status_is(RsvpStatus.GOING),
                       status_is(RsvpStatus.WAITLIST), attended)
             .outerjoin(EventRsvp, EventRsvp.event_id == Event.id)
             .where(Event.published_at.is_not(None), Event.starts_at >= _utc(start), Event.starts_at < _utc(end))
             .group_by(Event.id, Event.title, Event.starts_at, Event.capacity, Event.cancelled_at)
             .order_by(Event.starts_at, Event.id))
    if limit:
        query = query.limit(limit)
    return [EventRow(title, starts, capacity, int(going), int(waiting), int(came), cancelled is not None)
            for title, starts, capacity, cancelled, going, waiting, came in session.execute(query)]


UPCOMING_DAYS = 90


@dataclass(frozen=True)
class Inquiries:
    received: int  # in the period
    answered: int  # of those, answered or closed
    open_now: int  # waiting for staff, whenever they came


def inquiry_counts(session: Session, start: date, end: date) -> Inquiries:
    """Inquiries received on the days [start, end), how many of them have been answered, and how many wait now."""
    done = sa.func.coalesce(sa.func.sum(sa.case((Inquiry.status != InquiryStatus.OPEN.value, 1), else_=0)), 0)
    received, answered = session.execute(sa.select(sa.func.count(), done).where(
        Inquiry.received_at >= _utc(start), Inquiry.received_at < _utc(end))).one()
    waiting = session.scalar(sa.select(sa.func.count()).select_from(Inquiry)
                             .where(Inquiry.status == InquiryStatus.OPEN.value))
    return Inquiries(int(received), int(answered), int(waiting or 0))


# --- the dashboard -----------------------------------------------------------------------------------------------

@dataclass
class Dashboard:
    period: str
    buckets: list[Bucket]
    flow: RegistrantFlow
    statuses: list[tuple[str, int]]
    access: Access
    today_active: int
    week_active: int
    month_active: int
    articles: list[ArticleRow]
    messages: list[MessageRow]
    mail: MailSeries
    surveys: list[SurveyRow]
    satisfaction: Satisfaction
    events: list[EventRow]
    upcoming_events: list[EventRow]  # the next 90 days: who has booked so far
    inquiries: Inquiries
    missing_days: int  # closed days of the period without a summary yet (the CLI rollup fills them)

    @property
    def active_registrants(self) -> int:
        return self.statuses[list(STATUS_LABELS).index(RegistrantStatus.ACTIVE.value)][1]

    @property
    def start(self) -> date:
        return self.buckets[0].start

    @property
    def end(self) -> date:
        return self.buckets[-1].end


def dashboard(session: Session, period: str = DEFAULT_PERIOD, today: date | None = None) -> Dashboard:
    """Every figure of the dashboard for the chosen period (call `rollup` first to summarise closed days)."""
    today = today or tokyo_today()
    period = period if period in PERIODS else DEFAULT_PERIOD
    buckets = buckets_for(period, today)
    start, end = buckets[0].start, buckets[-1].end
    tomorrow = today + timedelta(days=1)
    return Dashboard(
        period=period, buckets=buckets, flow=registrant_flow(session, buckets), statuses=status_totals(session),
        access=access_series(session, buckets, today), today_active=active_count(session, today, tomorrow, today),
        week_active=active_count(session, today - timedelta(days=6), tomorrow, today),
        month_active=active_count(session, today - timedelta(days=29), tomorrow, today),
        articles=top_articles(session, start, end, today), messages=message_reads(session, start, end),
        mail=mail_series(session, buckets), surveys=survey_rates(session, start, end),
        satisfaction=satisfaction(session, start, end), events=event_attendance(session, start, end),
        upcoming_events=event_attendance(session, tomorrow, tomorrow + timedelta(days=UPCOMING_DAYS)),
        inquiries=inquiry_counts(session, start, end),
        missing_days=missing_summary_days(session, start, min(end, today)))
