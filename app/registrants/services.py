"""Reading registrants for staff screens. (Search, sync and lifecycle grow here.)"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.core.pagination import Page, paginate
from app.registrants.models import ConsentRecord, Registrant, StatusChange
from app.registrants.normalise import search_key


def list_registrants(session: Session, query: str = "", page: int = 1, per_page: int = 50) -> Page:
    stmt = sa.select(Registrant)
    key = search_key(query)
    if key:
        stmt = stmt.where(Registrant.search_text.contains(key, autoescape=True))
    stmt = stmt.options(selectinload(Registrant.region)).order_by(
        Registrant.family_name_kana, Registrant.given_name_kana, Registrant.id)
    return paginate(session, stmt, page, per_page)


def history_of(session: Session, registrant_id: int) -> tuple[list[ConsentRecord], list[StatusChange]]:
    """The registrant's consent and status history, newest first."""
    consents = session.scalars(sa.select(ConsentRecord).where(ConsentRecord.registrant_id == registrant_id)
                               .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())).all()
    changes = session.scalars(sa.select(StatusChange).where(StatusChange.registrant_id == registrant_id)
                              .order_by(StatusChange.changed_at.desc(), StatusChange.id.desc())).all()
    return list(consents), list(changes)
