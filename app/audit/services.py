"""Write and check the audit history.

Every staff action that reads in bulk, exports or changes data calls `record`
inside the same transaction as the change, so the change and its trace commit
together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.core.pagination import Page, paginate
from app.core.timeutil import tokyo_day_start_utc, utcnow

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class SystemActor:
    """The appliance itself (CLI, timers, workers) when no person acts."""

    label: str = "system"
    account_kind: str = "system"
    id: int | None = None  # type: ignore[assignment]


SYSTEM = SystemActor()


def _actor_label(actor: Any) -> str:
    if actor.account_kind == "staff":
        return str(actor.display_name)[:120]
    if actor.account_kind == "registrant":
        return f"registrant#{actor.id}"
    return str(getattr(actor, "label", "system"))[:120]


def _canonical(event: AuditEvent) -> str:
    fields = [
        str(event.seq),
        event.occurred_at.strftime("%Y-%m-%dT%H:%M:%S"),
        event.actor_kind,
        "" if event.actor_id is None else str(event.actor_id),
        event.actor_label,
        event.action,
        event.target,
        event.detail,
        event.client_ip or "",
        event.prev_hash,
    ]
    return "\x1f".join(fields)


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: Any,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> AuditEvent:
    """Append one event to the chain (flushed, committed by the caller's transaction)."""
    last = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.row_hash).order_by(AuditEvent.seq.desc()).limit(1).with_for_update()
    ).first()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=utcnow().replace(microsecond=0),
        actor_kind=actor.account_kind,
        actor_id=actor.id,
        actor_label=_actor_label(actor),
        action=action,
        target=target[:120],
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
        client_ip=client_ip,
        prev_hash=last.row_hash if last else GENESIS_HASH,
    )
    event.row_hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_bad_seq: int | None
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.first_bad_seq is None


def verify_chain(session: Session, batch: int = 1000) -> ChainReport:
    """Walk the chain in order; report the first row whose hash or position does not hold."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    last_seq = 0
    while True:
        rows = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked, None, None)
        for event in rows:
            if event.seq != expected_seq:
                return ChainReport(checked, expected_seq, "missing row (sequence gap)")
            if event.prev_hash != prev_hash:
                return ChainReport(checked, event.seq, "previous-hash link broken")
            if compute_hash(event) != event.row_hash:
                return ChainReport(checked, event.seq, "row content does not match its hash")
            checked += 1
            expected_seq, prev_hash, last_seq = event.seq + 1, event.row_hash, event.seq
        session.expunge_all()


def search_events(session: Session, *, action_prefix: str = "", actor_kind: str = "", date_from: date | None = None,
                  date_to: date | None = None, page: int = 1, per_page: int = 50) -> Page:
    """Audit rows newest first, filtered by action prefix, actor kind and Tokyo calendar days (inclusive)."""
    stmt = sa.select(AuditEvent)
    if action_prefix:
        stmt = stmt.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if actor_kind:
        stmt = stmt.where(AuditEvent.actor_kind == actor_kind)
    if date_from:
        stmt = stmt.where(AuditEvent.occurred_at >= tokyo_day_start_utc(date_from))
    if date_to:
        stmt = stmt.where(AuditEvent.occurred_at < tokyo_day_start_utc(date_to + timedelta(days=1)))
    return paginate(session, stmt.order_by(AuditEvent.seq.desc()), page, per_page)
