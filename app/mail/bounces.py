"""Bounces: read one delivery-status notification (RFC 3464) and mark the outbox row it is about.

The relay pipes each DSN to `flask mail bounce`. The original message is found by its Message-ID
(fixed per recipient when queued), else by the failed address. A permanent failure (status 5.x.x)
suppresses the address, so no further campaign mail goes there; a transient one (4.x.x) is recorded only.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import utcnow
from app.mail.models import MailSuppression, OutboxMessage, OutboxStatus

MAX_DSN_BYTES = 10 * 1024 * 1024
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
FAILURE_ACTIONS = {"failed", "delayed"}


class BounceError(ValueError):
    """Input that is not a usable DSN; nothing was changed."""


@dataclass(frozen=True)
class Recipient:
    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class Dsn:
    original_message_id: str | None
    recipients: list[Recipient]


def _address(value: str | None) -> str:
    """'rfc822; user@example.com' -> 'user@example.com'."""
    text = (value or "").strip()
    kind, sep, rest = text.partition(";")
    address = rest if sep else kind
    return address.strip().strip("<>").strip().lower()[:254]


def _one_line(value: Any, limit: int = 150) -> str:
    return " ".join(str(value or "").split())[:limit]


def _parts(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    return [HeaderParser().parsestr(chunk) for chunk in re.split(r"\r?\n\r?\n", text.strip()) if chunk.strip()]


def _original_message_id(report: Message) -> str | None:
    for part in _parts(report, "message/rfc822"):
        payload = part.get_payload()
        if isinstance(payload, list) and payload and payload[0].get("Message-ID"):
            return _one_line(payload[0]["Message-ID"], 200)
    for part in _parts(report, "text/rfc822-headers"):
        raw = part.get_payload(decode=True) or b""
        headers = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
        if headers.get("Message-ID"):
            return _one_line(headers["Message-ID"], 200)
    return None


def parse_dsn(raw: bytes) -> Dsn:
    """Parse an RFC 3464 report; BounceError (one line, English: an operator reads it in the relay's log)."""
    if not raw.strip():
        raise BounceError("empty input")
    if len(raw) > MAX_DSN_BYTES:
        raise BounceError("input larger than 10 MB")
    report = email.message_from_bytes(raw, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report":
        raise BounceError(f"expected multipart/report, got {report.get_content_type()}")
    status_parts = _parts(report, "message/delivery-status")
    if not status_parts:
        raise BounceError("no message/delivery-status part")
    recipients = []
    for block in _status_blocks(status_parts[0]):
        if not (block.get("Final-Recipient") or block.get("Original-Recipient")):
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        status = _STATUS.search(block.get("Status") or "")
        recipients.append(Recipient(
            address=_address(block.get("Final-Recipient") or block.get("Original-Recipient")),
            action=_one_line(block.get("Action"), 20).lower(),
            status=status.group(0) if status else "",
            diagnostic=_one_line(block.get("Diagnostic-Code")),
        ))
    if not recipients:
        raise BounceError("no per-recipient fields (Final-Recipient) in the delivery-status part")
    if any(not r.address or "@" not in r.address for r in recipients):
        raise BounceError("a Final-Recipient is not a mail address")
    return Dsn(_original_message_id(report), recipients)


@dataclass(frozen=True)
class BounceOutcome:
    outbox_id: int | None
    status: str
    hard: bool
    suppressed: bool
    ignored: str = ""  # why nothing was recorded


def _find_row(session: Session, message_id: str | None, address: str) -> OutboxMessage | None:
    if message_id:
        row = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.message_id == message_id,
                                                            sa.func.lower(OutboxMessage.to_address) == address))
        if row is not None:
            return row
    return session.scalar(
        sa.select(OutboxMessage)
        .where(sa.func.lower(OutboxMessage.to_address) == address, OutboxMessage.status == OutboxStatus.SENT.value)
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc()).limit(1))


def apply_dsn(session: Session, dsn: Dsn) -> list[BounceOutcome]:
    """Mark each failed recipient's outbox row; suppress hard-bounced addresses. Commits."""
    outcomes = []
    for recipient in dsn.recipients:
        if recipient.action not in FAILURE_ACTIONS:
            outcomes.append(BounceOutcome(None, recipient.status, False, False, f"action {recipient.action}"))
            continue
        row = _find_row(session, dsn.original_message_id, recipient.address)
        if row is None:
            outcomes.append(BounceOutcome(None, recipient.status, recipient.hard, False, "no matching message"))
            continue
        kind = "hard" if recipient.hard else "soft"
        row.bounced_at = utcnow()
        row.bounce_status = f"{recipient.status or '?'} {kind} {recipient.diagnostic}".strip()[:200]
        suppressed = False
        if recipient.hard and session.scalar(
                sa.select(MailSuppression.id).where(MailSuppression.address == recipient.address)) is None:
            session.add(MailSuppression(address=recipient.address, reason="hard_bounce",
                                        detail=f"{recipient.status} {recipient.diagnostic}".strip()[:200]))
            suppressed = True
        audit.record(session, audit.SYSTEM, "mail.bounce", f"outbox:{row.id}",
                     {"status": recipient.status, "hard": recipient.hard, "suppressed": suppressed}, None)
        outcomes.append(BounceOutcome(row.id, recipient.status, recipient.hard, suppressed))
    session.commit()
    return outcomes
