"""Reading registrants for staff screens. (Search, sync and lifecycle grow here.)"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Bundle, Session, selectinload

from app.codes.models import Code, CodeKind
from app.core.pagination import Page, paginate
from app.registrants.models import ConsentRecord, Registrant, RegistrantStatus, StatusChange
from app.registrants.normalise import search_key


def list_registrants(session: Session, query: str = "", page: int = 1, per_page: int = 50) -> Page:
    stmt = sa.select(Registrant)
    key = search_key(query)
    if key:
        stmt = stmt.where(Registrant.search_text.contains(key, autoescape=True))
    stmt = stmt.options(selectinload(Registrant.region)).order_by(
        Registrant.family_name_kana, Registrant.given_name_kana, Registrant.id)
    return paginate(session, stmt, page, per_page)


@cache
def _status_count_query() -> sa.Select[Any]:
    return sa.select(Registrant.status, sa.func.count()).group_by(Registrant.status)


def status_counts(session: Session) -> dict[str, int]:
    counts = {status.value: 0 for status in RegistrantStatus}
    counts.update({status: count for status, count in session.execute(_status_count_query())})
    return counts


@cache
def _region_count_query() -> sa.Select[Any]:
    """Built once: the dashboard asks for it on every view, and assembling it cost more than running it."""
    active = (sa.select(Registrant.region_id, sa.func.count().label("registrants"))
              .where(Registrant.status == RegistrantStatus.ACTIVE.value).group_by(Registrant.region_id).subquery())
    region = Bundle("region", Code.id, Code.label, Code.label_en)
    return (sa.select(region, sa.func.coalesce(active.c.registrants, 0)).outerjoin(active, active.c.region_id == Code.id)
            .where(Code.kind == CodeKind.REGION.value).order_by(Code.sort_order, Code.id))


def counts_by_region(session: Session) -> list[tuple[Any, int]]:
    """Active registrants per region code, every region listed (zero included), in code-master order.

    Each region is a row with the id, label and label_en the code_labels filter reads, not a Code entity."""
    return [(region, count) for region, count in session.execute(_region_count_query())]


def history_of(session: Session, registrant_id: int) -> tuple[list[ConsentRecord], list[StatusChange]]:
    """The registrant's consent and status history, newest first."""
    consents = session.scalars(sa.select(ConsentRecord).where(ConsentRecord.registrant_id == registrant_id)
                               .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())).all()
    changes = session.scalars(sa.select(StatusChange).where(StatusChange.registrant_id == registrant_id)
                              .order_by(StatusChange.changed_at.desc(), StatusChange.id.desc())).all()
    return list(consents), list(changes)
