"""Time is stored in UTC and shown in Asia/Tokyo; the fiscal year is a function."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    """The current time as a naive UTC datetime (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_tokyo(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(TOKYO)


def tokyo_today() -> date:
    """Today's date in Asia/Tokyo (the day the users live in, whatever the server's zone)."""
    return datetime.now(TOKYO).date()


def from_tokyo_input(local: datetime | None) -> datetime | None:
    """A date-time typed in Tokyo time (a form field) as the naive UTC value it is stored as."""
    return local.replace(tzinfo=TOKYO).astimezone(UTC).replace(tzinfo=None) if local else None


def to_tokyo_input(stored: datetime | None) -> datetime | None:
    """A stored UTC value as the naive Tokyo date-time a form field or a spreadsheet cell shows."""
    return stored.replace(tzinfo=UTC).astimezone(TOKYO).replace(tzinfo=None) if stored else None


def fiscal_year(day: date) -> int:
    """Japanese fiscal year: 1 April to 31 March, named after the year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_end(day: date) -> date:
    return date(fiscal_year(day) + 1, 3, 31)


def tokyo_day_start_utc(day: date) -> datetime:
    """Midnight of a Tokyo calendar day, as the naive UTC value timestamps are stored in."""
    return datetime.combine(day, time(0, 0), TOKYO).astimezone(UTC).replace(tzinfo=None)
