"""Reading registrants for staff screens. (Search, sync and lifecycle grow here.)"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

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


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(sa.select(Registrant.status, sa.func.count()).group_by(Registrant.status))
    counts = {status.value: 0 for status in RegistrantStatus}
    counts.update({status: count for status, count in rows})
    return counts


def counts_by_region(session: Session) -> list[tuple[Code, int]]:
    """Active registrants per region code, every region listed (zero included), in code-master order."""
    active = (sa.select(Registrant.region_id, sa.func.count().label("registrants"))
              .where(Registrant.status == RegistrantStatus.ACTIVE.value).group_by(Registrant.region_id).subquery())
    rows = session.execute(
        sa.select(Code, sa.func.coalesce(active.c.registrants, 0)).outerjoin(active, active.c.region_id == Code.id)
        .where(Code.kind == CodeKind.REGION.value).order_by(Code.sort_order, Code.id)
    )
    return [(region, count) for region, count in rows]


def history_of(session: Session, registrant_id: int) -> tuple[list[ConsentRecord], list[StatusChange]]:
    """The registrant's consent and status history, newest first."""
    consents = session.scalars(sa.select(ConsentRecord).where(ConsentRecord.registrant_id == registrant_id)
                               .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())).all()
    changes = session.scalars(sa.select(StatusChange).where(StatusChange.registrant_id == registrant_id)
                              .order_by(StatusChange.changed_at.desc(), StatusChange.id.desc())).all()
    return list(consents), list(changes)
