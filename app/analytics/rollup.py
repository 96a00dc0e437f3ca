"""Daily summaries of the page views: `page_view_daily` and `active_day`, one Tokyo calendar day at a time.

A day is summarised once it is over (in Asia/Tokyo). Each day is a range on `viewed_at` (the Tokyo
midnights converted to UTC, so the covering index `ix_page_view_viewed` answers it on SQLite and MariaDB
alike) and is written in its own transaction: the old rows of that day are deleted, then the new ones are
inserted, the `endpoint='*'` row last. That row marks the day as done, so a second run skips it.

The '*' row counts the screens (every endpoint except the login event); `active_day` counts everyone who
did anything that day, logins included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.analytics.models import ActiveDay, PageView, PageViewDaily
from app.analytics.recording import LOGIN_ENDPOINT
from app.core.timeutil import to_tokyo, tokyo_day_start_utc, tokyo_today

log = logging.getLogger("tsunagu.analytics")
TOTAL = "*"
DASHBOARD_MAX_DAYS = 62  # a dashboard request rolls up at most this many missing days; the CLI does the rest



@dataclass
class RollupResult:
    done: list[date]
    skipped: int  # days another run finished first (or that failed; they are tried again next time)
    remaining: int  # missing closed days left for a later run


def missing_days(session: Session, first: date, last: date) -> list[date]:
    """Closed days in [first, last] without their '*' row, newest first."""
    last = min(last, tokyo_today() - timedelta(days=1))
    if last < first:
        return []
    done = set(session.scalars(sa.select(PageViewDaily.day).where(
        PageViewDaily.endpoint == TOTAL, PageViewDaily.day >= first, PageViewDaily.day <= last)))
    span = (last - first).days + 1
    return [day for day in (last - timedelta(days=n) for n in range(span)) if day not in done]


def first_view_day(session: Session) -> date | None:
    first = session.scalar(sa.select(sa.func.min(PageView.viewed_at)))
    return to_tokyo(first).date() if first else None  # type: ignore[union-attr]


def rollup(session: Session, *, days: int | None = None, limit: int | None = None,
           progress: Callable[[int, int, date], Any] | None = None) -> RollupResult:
    """Summarise missing closed days, newest first: the last `days` days (None: since the first view),
    at most `limit` of them (None: all). Commits each day. `progress(done, total, day)` after each one."""
    yesterday = tokyo_today() - timedelta(days=1)
    start = yesterday - timedelta(days=days - 1) if days else first_view_day(session)
    session.rollback()  # a fresh snapshot: see what other runs have finished
    if start is None:
        return RollupResult([], 0, 0)
    wanted = missing_days(session, start, yesterday)
    session.rollback()
    todo = wanted[:limit] if limit is not None else wanted
    result = _summarise(session, todo, progress)
    result.remaining = len(wanted) - len(todo)
    return result


def rollup_between(session: Session, first: date, last: date,
                   progress: Callable[[int, int, date], Any] | None = None) -> RollupResult:
    """Summarise the missing closed days in [first, last] (a report's period), newest first."""
    session.rollback()
    todo = missing_days(session, first, last)
    session.rollback()
    return _summarise(session, todo, progress)


def _summarise(session: Session, todo: list[date], progress: Callable[[int, int, date], Any] | None) -> RollupResult:
    result = RollupResult([], 0, 0)
    for index, day in enumerate(todo, start=1):
        if summarise_day(session, day):
            result.done.append(day)
        else:
            result.skipped += 1
        if progress:
            progress(index, len(todo), day)
    return result


def summarise_day(session: Session, day: date) -> bool:
    """(Re)write one day's summary rows in one transaction; False if the database refused (logged)."""
    start, end = tokyo_day_start_utc(day), tokyo_day_start_utc(day + timedelta(days=1))
    in_day = sa.and_(PageView.viewed_at >= start, PageView.viewed_at < end)
    subject = sa.func.coalesce(PageView.subject_id, 0)
    per_screen = (sa.select(sa.literal(day, sa.Date).label("day"), PageView.endpoint, subject.label("subject_id"),
                            sa.func.count().label("views"),
                            sa.func.count(sa.distinct(PageView.registrant_id)).label("visitors"))
                  .where(in_day).group_by(PageView.endpoint, subject))
    screens = sa.select(sa.func.count(), sa.func.count(sa.distinct(PageView.registrant_id))).where(
        in_day, PageView.endpoint != LOGIN_ENDPOINT)
    active = (sa.select(sa.literal(day, sa.Date).label("day"), PageView.registrant_id)
              .where(in_day, PageView.registrant_id.is_not(None)).distinct())
    daily, active_day = PageViewDaily.__table__, ActiveDay.__table__
    try:
        views, visitors = session.execute(screens).one()
        session.execute(daily.delete().where(daily.c.day == day))
        session.execute(active_day.delete().where(active_day.c.day == day))
        session.execute(daily.insert().from_select(["day", "endpoint", "subject_id", "views", "visitors"],
                                                   per_screen))
        session.execute(active_day.insert().from_select(["day", "registrant_id"], active))
        session.execute(daily.insert().values(day=day, endpoint=TOTAL, subject_id=0, views=int(views),
                                              visitors=int(visitors)))
        session.commit()
    except DBAPIError as exc:  # e.g. a concurrent run wrote the same day first
        session.rollback()
        log.warning("rollup of %s skipped: %s", day.isoformat(), type(exc).__name__)
        return False
    return True
