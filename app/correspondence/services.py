"""Create, edit (keeping every earlier version) and search the correspondence history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.codes.models import Code, CodeKind
from app.codes.services import selectable
from app.core.pagination import Page, paginate
from app.core.timeutil import tokyo_day_start_utc, utcnow
from app.correspondence.models import Correspondence, CorrespondenceRevision

PER_PAGE = 50
EDITABLE = ("occurred_at", "channel_id", "staff_id", "staff_name", "subject", "body", "outcome", "follow_up_on")


def channels(session: Session, *, include_inactive_id: int | None = None) -> list[Code]:
    """Channel codes to choose from (those valid today, plus the one an entry already uses)."""
    return selectable(session, CodeKind.CORRESPONDENCE_CHANNEL, keep_ids=[include_inactive_id])


def _check_channel(session: Session, channel_id: int) -> None:
    code = session.get(Code, channel_id)
    if code is None or code.kind != CodeKind.CORRESPONDENCE_CHANNEL.value:
        raise ValueError("unknown correspondence channel")


def create(session: Session, actor: Any, registrant_id: int, *, occurred_at: datetime, channel_id: int,
           subject: str, body: str, outcome: str | None = None, follow_up_on: date | None = None,
           ip: str | None = None) -> Correspondence:
    """Record one exchange with a registrant; the acting staff member is its author. Audited, not committed."""
    _check_channel(session, channel_id)
    now = utcnow()
    entry = Correspondence(registrant_id=registrant_id, occurred_at=occurred_at, channel_id=channel_id,
                           staff_id=actor.id, staff_name=str(actor.display_name)[:120], subject=subject, body=body,
                           outcome=outcome or None, follow_up_on=follow_up_on, created_at=now, updated_at=now)
    session.add(entry)
    session.flush()
    audit.record(session, actor, "correspondence.create", f"correspondence:{entry.id}",
                 {"registrant_id": registrant_id, "channel_id": channel_id,
                  "follow_up": follow_up_on is not None}, ip)
    return entry


def edit(session: Session, actor: Any, entry: Correspondence, *, occurred_at: datetime, channel_id: int,
         subject: str, body: str, outcome: str | None = None, follow_up_on: date | None = None,
         ip: str | None = None) -> bool:
    """Change an entry; its previous values are kept as a revision. False (nothing written) if nothing changed."""
    _check_channel(session, channel_id)
    new = {"occurred_at": occurred_at, "channel_id": channel_id, "subject": subject, "body": body,
           "outcome": outcome or None, "follow_up_on": follow_up_on}
    changed = sorted(name for name, value in new.items() if getattr(entry, name) != value)
    if not changed:
        return False
    session.add(CorrespondenceRevision(
        correspondence_id=entry.id, **{name: getattr(entry, name) for name in EDITABLE},
        edited_by_id=actor.id, edited_by_name=str(actor.display_name)[:120], edited_at=utcnow()))
    for name, value in new.items():
        setattr(entry, name, value)
    entry.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "correspondence.edit", f"correspondence:{entry.id}",
                 {"registrant_id": entry.registrant_id, "changed": changed}, ip)
    return True


@dataclass(frozen=True)
class Criteria:
    text: str = ""
    channel_id: int | None = None
    staff_id: int | None = None
    registrant_id: int | None = None
    occurred_from: date | None = None  # Tokyo calendar days, inclusive
    occurred_to: date | None = None
    follow_up_by: date | None = None  # follow-up due on or before this day


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, criteria: Criteria, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Entries of every registrant matching all given criteria, newest first."""
    stmt = sa.select(Correspondence).options(selectinload(Correspondence.channel),
                                             selectinload(Correspondence.registrant))
    text = criteria.text.strip()
    if text:
        for word in text.split():
            pattern = f"%{_escape_like(word)}%"
            stmt = stmt.where(sa.or_(Correspondence.subject.like(pattern, escape="\\"),
                                     Correspondence.body.like(pattern, escape="\\"),
                                     Correspondence.outcome.like(pattern, escape="\\")))
    if criteria.channel_id:
        stmt = stmt.where(Correspondence.channel_id == criteria.channel_id)
    if criteria.staff_id:
        stmt = stmt.where(Correspondence.staff_id == criteria.staff_id)
    if criteria.registrant_id:
        stmt = stmt.where(Correspondence.registrant_id == criteria.registrant_id)
    if criteria.occurred_from:
        stmt = stmt.where(Correspondence.occurred_at >= tokyo_day_start_utc(criteria.occurred_from))
    if criteria.occurred_to:
        stmt = stmt.where(Correspondence.occurred_at < tokyo_day_start_utc(criteria.occurred_to + timedelta(days=1)))
    if criteria.follow_up_by:
        stmt = stmt.where(Correspondence.follow_up_on.is_not(None), Correspondence.follow_up_on <= criteria.follow_up_by)
    stmt = stmt.order_by(Correspondence.occurred_at.desc(), Correspondence.id.desc())
    return paginate(session, stmt, max(1, page), per_page)


def for_registrant(session: Session, registrant_id: int, limit: int = 20) -> list[Correspondence]:
    stmt = (sa.select(Correspondence).options(selectinload(Correspondence.channel))
            .where(Correspondence.registrant_id == registrant_id)
            .order_by(Correspondence.occurred_at.desc(), Correspondence.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def staff_choices(session: Session) -> list[tuple[int, str]]:
    """(staff id, name) of everyone who has written an entry, for the search filter."""
    rows = session.execute(sa.select(Correspondence.staff_id, sa.func.max(Correspondence.staff_name))
                           .where(Correspondence.staff_id.is_not(None)).group_by(Correspondence.staff_id)
                           .order_by(Correspondence.staff_id)).all()
    return [(row[0], row[1]) for row in rows]
