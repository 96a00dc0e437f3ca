"""The dashboard's figures, read in one round trip to the database.

Registrants per status, active registrants per region (every region of the code master, zero included) and
the accounts locked right now. The dashboard is the page staff open first and most often; on the appliance
each query is a TLS round trip to the DB guest, which cost more than counting, so the three counts are one
UNION ALL whose rows say which figure they belong to.

Counting grows with the register (about 55 ms for 100,000 registrants on MariaDB), and every staff member lands
here, so a web process reuses the figures it counted for `dashboard_figures_seconds` (RecentFigures); the page
says when they were counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.services import locked_count
from app.codes.models import Code, CodeKind
from app.registrants.models import Registrant, RegistrantStatus

STATUS, REGION, LOCKED = "status", "region", "locked"


@dataclass(frozen=True)
class Region:
    """A region of the code master, as the code_labels filter reads it."""

    id: int
    label: str
    label_en: str | None


@dataclass(frozen=True)
class Figures:
    by_status: dict[str, int]
    by_region: list[tuple[Region, int]]
    locked: int
    counted_at: datetime


COLUMNS = ("status", "code_id", "label", "label_en", "position")


def _part(figure: str, count: Any, **columns: Any) -> sa.Select[Any]:
    """One part of the union: every part has the same columns, NULL where a figure has nothing to say."""
    return sa.select(sa.literal(figure).label("figure"),
                     *(columns.get(name, sa.null()).label(name) for name in COLUMNS), count.label("n"))


@cache
def _figures_query() -> sa.CompoundSelect:
    """Built once: assembling the statement cost more than running it."""
    active = (sa.select(Registrant.region_id, sa.func.count().label("registrants"))
              .where(Registrant.status == RegistrantStatus.ACTIVE.value).group_by(Registrant.region_id).subquery())
    by_status = _part(STATUS, sa.func.count(), status=Registrant.status).group_by(Registrant.status)
    by_region = (_part(REGION, sa.func.coalesce(active.c.registrants, 0), code_id=Code.id, label=Code.label,
                       label_en=Code.label_en, position=Code.sort_order)
                 .outerjoin(active, active.c.region_id == Code.id).where(Code.kind == CodeKind.REGION.value))
    locked = _part(LOCKED, locked_count(sa.bindparam("now")))
    return sa.union_all(by_status, by_region, locked).order_by("position", "code_id")  # regions in code-master order


def dashboard(session: Session, now: datetime) -> Figures:
    by_status = {status.value: 0 for status in RegistrantStatus}
    by_region: list[tuple[Region, int]] = []
    locked = 0
    for row in session.execute(_figures_query(), {"now": now}):
        if row.figure == STATUS:
            by_status[row.status] = int(row.n)
        elif row.figure == REGION:
            by_region.append((Region(row.code_id, row.label, row.label_en), int(row.n)))
        else:
            locked = int(row.n or 0)
    return Figures(by_status, by_region, locked, now)


@dataclass
class RecentFigures:
    """The figures this process counted last, reused while younger than `max_age` (zero: count every time).

    A clock set back (counted "in the future") counts afresh rather than trusting the old figures."""

    max_age: timedelta
    last: Figures | None = None

    def get(self, session: Session, now: datetime) -> Figures:
        last = self.last
        if last is None or not timedelta(0) <= now - last.counted_at < self.max_age:
            last = self.last = dashboard(session, now)
        return last
