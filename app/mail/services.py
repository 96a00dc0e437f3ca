"""Queue mail in the outbox (inside the caller's transaction) and deliver it from a worker.

`enqueue` is the one entry point every capability uses; nothing sends mail from a request.
`deliver_due` claims due rows, sends them through the configured SMTP relay and records the
outcome of each, retrying transient failures with backoff.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.timeutil import utcnow
from app.mail.models import OutboxMessage, OutboxStatus

log = logging.getLogger("tsunagu.mail")
_HEADER_BREAK = str.maketrans({"\r": " ", "\n": " "})
_ADDRESS = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+")
RETRY_BASE = timedelta(minutes=1)
# A worker that died while sending leaves rows in `sending`; after this long they are due again.
STALE_SENDING = timedelta(minutes=15)


def enqueue(session: Session, *, to: str, subject: str, body: str, category: str,
            registrant_id: int | None = None, not_before: datetime | None = None) -> OutboxMessage:
    """Add a mail to the outbox. Header values cannot carry line breaks (no header injection)."""
    if not _ADDRESS.fullmatch(to):
        raise ValueError("not a single mail address")
    message = OutboxMessage(
        category=category, registrant_id=registrant_id, to_address=to,
        subject=subject.translate(_HEADER_BREAK).strip()[:200], body_text=body, not_before=not_before or utcnow(),
    )
    session.add(message)  # flushed with the caller's transaction; flush first if you need message.id
    return message


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retried: int
    failed: int


def deliver_due(session: Session, settings: Any, limit: int = 100) -> DeliveryReport:
    """Send what is due, one SMTP connection per batch. Each row's outcome is committed as it happens."""
    now = utcnow()
    pending = sa.and_(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.not_before <= now)
    abandoned = sa.and_(OutboxMessage.status == OutboxStatus.SENDING.value,
                        OutboxMessage.not_before <= now - STALE_SENDING)
    due = session.scalars(
        sa.select(OutboxMessage)
        .where(sa.or_(pending, abandoned))
        .order_by(OutboxMessage.not_before, OutboxMessage.id).limit(limit)
    ).all()
    sent = retried = failed = 0
    if not due:
        return DeliveryReport(0, 0, 0)
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail relay unreachable: %s", type(exc).__name__)
        for message in due:
            retried_now = _record_failure(message, settings, f"relay unreachable: {type(exc).__name__}")
            retried, failed = retried + retried_now, failed + (not retried_now)
        session.commit()
        return DeliveryReport(0, retried, failed)
    with smtp:
        for message in due:
            if not _claim(session, message):
                continue
            try:
                message.message_id = _send(smtp, settings, message)
            except (OSError, smtplib.SMTPException) as exc:
                retried_now = _record_failure(message, settings, f"{type(exc).__name__}: {exc}"[:500])
                retried, failed = retried + retried_now, failed + (not retried_now)
            else:
                message.status, message.sent_at = OutboxStatus.SENT.value, utcnow()
                sent += 1
            session.commit()
    return DeliveryReport(sent, retried, failed)


def _claim(session: Session, message: OutboxMessage) -> bool:
    """Mark a row `sending` only if nobody else did first (several workers may run)."""
    claimed = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == message.status,
               OutboxMessage.attempts == message.attempts)
        .values(status=OutboxStatus.SENDING.value, attempts=OutboxMessage.attempts + 1, not_before=utcnow())
    ).rowcount
    session.commit()
    if claimed:
        session.refresh(message)
    return bool(claimed)


def _record_failure(message: OutboxMessage, settings: Any, error: str) -> bool:
    """Schedule a retry with exponential backoff, or give up; True when a retry was scheduled."""
    message.last_error = error
    if message.attempts >= settings.mail_max_attempts:
        message.status = OutboxStatus.FAILED.value
        return False
    message.status = OutboxStatus.PENDING.value
    message.not_before = utcnow() + RETRY_BASE * (2 ** max(message.attempts - 1, 0))
    return True


def _connect(settings: Any) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30, local_hostname=socket.getfqdn())
    if settings.smtp_starttls:
        smtp.starttls()
    if settings.smtp_username:
        smtp.login(settings.smtp_username, settings.smtp_password)
    return smtp


def _send(smtp: smtplib.SMTP, settings: Any, message: OutboxMessage) -> str:
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = message.to_address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(idstring=f"tsunagu.{message.id}", domain=settings.mail_from.rpartition("@")[2])
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body_text, charset="utf-8")
    smtp.send_message(mail)
    return str(mail["Message-ID"])
