"""The dashboard's figures, read in one round trip to the database.

Registrants per status, active registrants per region (every region of the code master, zero included) and
the accounts locked right now. The dashboard is the page staff open first and most often; on the appliance
each query is a TLS round trip to the DB guest, which cost more than counting, so the three counts are one
UNION ALL whose rows say which figure they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


def _row(figure: str, count: Any, status: Any = None, region: tuple[Any, ...] = (None,) * 4) -> sa.Select[Any]:
    """One part of the union: every part has the same columns, NULL where a figure has nothing to say."""
    values = dict(zip(("status", "code_id", "label", "label_en", "position"), (status, *region), strict=True))
    return sa.select(sa.literal(figure).label("figure"),
                     *((sa.null() if value is None else value).label(name) for name, value in values.items()),
                     count.label("n"))


@cache
def _figures_query() -> sa.CompoundSelect:
    """Built once: assembling the statement cost more than running it."""
    active = (sa.select(Registrant.region_id, sa.func.count().label("registrants"))
              .where(Registrant.status == RegistrantStatus.ACTIVE.value).group_by(Registrant.region_id).subquery())
    by_status = _row(STATUS, sa.func.count(), status=Registrant.status).group_by(Registrant.status)
    by_region = (_row(REGION, sa.func.coalesce(active.c.registrants, 0),
                      region=(Code.id, Code.label, Code.label_en, Code.sort_order))
                 .outerjoin(active, active.c.region_id == Code.id).where(Code.kind == CodeKind.REGION.value))
    return sa.union_all(by_status, by_region, _row(LOCKED, locked_count(sa.bindparam("now"))))


def dashboard(session: Session, now: datetime) -> Figures:
    by_status = {status.value: 0 for status in RegistrantStatus}
    regions: list[tuple[Any, Any, Region, int]] = []
    locked = 0
    for row in session.execute(_figures_query(), {"now": now}):
        if row.figure == STATUS:
            by_status[row.status] = int(row.n)
        elif row.figure == REGION:
            regions.append((row.position, row.code_id, Region(row.code_id, row.label, row.label_en), int(row.n)))
        else:
            locked = int(row.n or 0)
    regions.sort(key=lambda entry: (entry[0], entry[1]))
    return Figures(by_status, [(region, count) for _, _, region, count in regions], locked)
