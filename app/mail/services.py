"""Queue mail in the outbox (inside the caller's transaction) and deliver it from a worker.

`enqueue` is the one entry point every capability uses for a single mail; nothing sends mail from a
request. `deliver_due` is one round of the worker: it claims due rows one at a time (a compare-and-set
UPDATE, so two workers never send the same row), sends each through the configured SMTP relay and
records the outcome, retrying transient failures with exponential backoff.

Crash safety: a row is `sending` from its claim until its outcome is committed. A worker killed in
between leaves it `sending`; after `stale_after` another worker takes it again and sends it with the
same Message-ID (decided when the row was queued), so a receiver sees at most that one message twice.
"""

from __future__ import annotations

import logging
import re
import secrets
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from app.core.timeutil import to_tokyo, utcnow
from app.mail.models import OutboxMessage, OutboxStatus

log = logging.getLogger("tsunagu.mail")
# CR, LF and the other C0/C1 controls can never reach a header: they become spaces.
_HEADER_BREAK = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_ADDRESS = re.compile(r"[^\s@<>,;\"()\[\]\\]+@[^\s@<>,;\"()\[\]\\]+\.[^\s@<>,;\"()\[\]\\]+")
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
# A worker that died while sending leaves rows in `sending`; after this long they are due again.
STALE_SENDING = timedelta(minutes=15)
RATE_WINDOW = timedelta(hours=1)
# Rows claimed per commit. A crash leaves at most this many claimed-but-unsent rows for the stale recovery
# (sent later, not twice); the one on the wire is the only one that can arrive twice.
CLAIM_GROUP = 10
SUBJECT_MAX = 200


def header_safe(text: str, limit: int = SUBJECT_MAX) -> str:
    """A header value with every line break and control character replaced by a space."""
    return _HEADER_BREAK.sub(" ", text).strip()[:limit]


def is_address(text: str) -> bool:
    return bool(_ADDRESS.fullmatch(text or "")) and len(text) <= 254


def mail_domain(mail_from: str | None = None) -> str:
    if mail_from is None and has_app_context():
        mail_from = current_app.extensions["tsunagu.settings"].mail_from
    domain = (mail_from or "").rpartition("@")[2].strip(" >")
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "tsunagu.invalid"


def new_message_id(domain: str) -> str:
    """A Message-ID unique per recipient, fixed when queued so a retry or a recovered send reuses it."""
    return f"<{secrets.token_hex(16)}@{domain}>"


def enqueue(session: Session, *, to: str, subject: str, body: str, category: str,
            registrant_id: int | None = None, not_before: datetime | None = None) -> OutboxMessage:
    """Add a mail to the outbox. Header values cannot carry line breaks (no header injection)."""
    if not is_address(to):
        raise ValueError("not a single mail address")
    message = OutboxMessage(
        category=category, registrant_id=registrant_id, to_address=to, subject=header_safe(subject),
        body_text=body, not_before=not_before or utcnow(), message_id=new_message_id(mail_domain()),
    )
    session.add(message)  # flushed with the caller's transaction; flush first if you need message.id
    return message


# --- the worker -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retried: int
    failed: int
    rate_limited: bool = False
    relay_down: bool = False
    claimed: int = 0

    @property
    def busy(self) -> bool:
        """Something was done and more may be due right away (the worker loops without sleeping)."""
        return bool(self.claimed) and not (self.rate_limited or self.relay_down)


@dataclass(frozen=True)
class _Due:
    id: int
    status: str
    attempts: int


def due_rows(session: Session, limit: int, stale_after: timedelta = STALE_SENDING) -> list[_Due]:
    """Rows to try now: abandoned `sending` rows first (a dead worker's), then pending ones in queue order."""
    now = utcnow()
    columns = (OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts)
    stale = session.execute(
        sa.select(*columns).where(OutboxMessage.status == OutboxStatus.SENDING.value,
                                  OutboxMessage.not_before <= now - stale_after)
        .order_by(OutboxMessage.not_before, OutboxMessage.id).limit(limit)).all()
    pending = session.execute(
        sa.select(*columns).where(OutboxMessage.status == OutboxStatus.PENDING.value,
                                  OutboxMessage.not_before <= now)
        .order_by(OutboxMessage.not_before, OutboxMessage.id).limit(limit - len(stale))).all() if len(
        stale) < limit else []
    session.commit()  # end the read transaction: MariaDB would otherwise keep this snapshot
    return [_Due(*row) for row in [*stale, *pending]]


def deliver_due(session: Session, settings: Any, limit: int = 100, *, stale_after: timedelta = STALE_SENDING,
                stop: Callable[[], bool] | None = None) -> DeliveryReport:
    """One round: send what is due, over one SMTP connection.

    Rows are claimed a few at a time (one commit for the group); each outcome is committed before the
    next message goes out, so a crash can repeat at most the one message on the wire. Rows claimed but
    not yet sent when a worker dies are simply sent later (after `stale_after`), not twice.
    """
    due = due_rows(session, limit, stale_after)
    if not due:
        return DeliveryReport(0, 0, 0)
    try:
        smtp = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail relay %s:%s unreachable: %s", settings.smtp_host, settings.smtp_port, type(exc).__name__)
        retried = _relay_down(session, due, f"relay unreachable: {type(exc).__name__}")
        return DeliveryReport(0, retried, 0, relay_down=True)
    tally = {"sent": 0, "retry": 0, "failed": 0, "claimed": 0}
    rate_limited = False
    try:
        for start in range(0, len(due), CLAIM_GROUP):
            if stop is not None and stop():
                break
            mine = claim_group(session, due[start:start + CLAIM_GROUP])
            tally["claimed"] += len(mine)
            mine, rate_limited = _within_rate(session, settings, mine)
            if not _send_group(session, smtp, settings, mine, tally, stop) or rate_limited:
                break
    finally:
        _close(smtp)
    return DeliveryReport(tally["sent"], tally["retry"], tally["failed"], rate_limited=rate_limited,
                          claimed=tally["claimed"])


def claim_group(session: Session, rows: list[_Due]) -> list[int]:
    """Mark rows `sending` only where each is still as we read it (compare-and-set: one worker wins).

    Each UPDATE's WHERE re-reads the row's current committed state on both SQLite (one writer at a
    time; the write lock is held to the commit) and MariaDB (InnoDB locks the row and evaluates the
    condition on its latest version; a competing UPDATE waits for our commit, then matches nothing),
    so of two workers that read the same row only one sees rowcount 1. One commit for the group.
    """
    mine = []
    now = utcnow()
    for row in rows:
        if session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == row.status,
                   OutboxMessage.attempts == row.attempts)
            .values(status=OutboxStatus.SENDING.value, attempts=row.attempts + 1, not_before=now)
            .execution_options(synchronize_session=False)
        ).rowcount:
            mine.append(row.id)
    session.commit()
    return mine


def _within_rate(session: Session, settings: Any, mine: list[int]) -> tuple[list[int], bool]:
    """Sliding-window cap, checked after the claim is committed so concurrent workers see each other.

    Sent in the last hour plus everything being sent right now (our claims included) must stay within
    `mail_rate_per_hour`; claims over the cap are given back, due again when the oldest send leaves the window.
    """
    if not mine:
        return mine, False
    now = utcnow()
    window_start = now - RATE_WINDOW
    sent = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.sent_at >= window_start)) or 0
    in_flight = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                               .where(OutboxMessage.status == OutboxStatus.SENDING.value)) or 0
    over = min(sent + in_flight - settings.mail_rate_per_hour, len(mine))
    if over <= 0:
        session.commit()
        return mine, False
    oldest = session.scalar(sa.select(sa.func.min(OutboxMessage.sent_at)).where(OutboxMessage.sent_at >= window_start))
    _release(session, mine[len(mine) - over:], (oldest + RATE_WINDOW) if oldest else now + timedelta(minutes=1))
    log.info("mail rate cap reached (%d per hour); the rest stays queued", settings.mail_rate_per_hour)
    return mine[:len(mine) - over], True


def _release(session: Session, ids: list[int], not_before: datetime) -> None:
    """Give claimed, unsent rows back to the queue (this try does not count)."""
    if ids:
        session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING.value)
            .values(status=OutboxStatus.PENDING.value, attempts=OutboxMessage.attempts - 1, not_before=not_before)
            .execution_options(synchronize_session=False))
    session.commit()


_SEND_COLUMNS = (OutboxMessage.id, OutboxMessage.to_address, OutboxMessage.subject, OutboxMessage.body_text,
                 OutboxMessage.message_id, OutboxMessage.campaign_id, OutboxMessage.registrant_id,
                 OutboxMessage.attempts)


def _send_group(session: Session, smtp: smtplib.SMTP, settings: Any, mine: list[int], tally: dict[str, int],
                stop: Callable[[], bool] | None) -> bool:
    """Send the claimed rows one by one; False if the round must end (connection lost, or told to stop)."""
    if not mine:
        return True
    rows = session.execute(sa.select(*_SEND_COLUMNS).where(OutboxMessage.id.in_(mine))
                           .order_by(OutboxMessage.id)).all()  # rows deleted meanwhile (a cancel) just drop out
    session.commit()
    for index, row in enumerate(rows):
        if stop is not None and stop():
            _release(session, [r.id for r in rows[index:]], utcnow())
            return False
        outcome = _send_one(session, smtp, settings, row)
        tally[outcome if outcome != "disconnected" else "retry"] += 1
        if outcome == "disconnected":
            _release(session, [r.id for r in rows[index + 1:]], utcnow())
            return False
    return True


def _send_one(session: Session, smtp: smtplib.SMTP, settings: Any, row: Any) -> str:
    """Send one claimed row and commit its outcome: 'sent', 'retry', 'disconnected' or 'failed'."""
    values: dict[str, Any] = {}
    if not row.message_id:  # queued before Message-IDs were stored: fix one now, kept for any retry
        values["message_id"] = new_message_id(mail_domain(settings.mail_from))
        session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
        session.commit()
        row = row._replace(message_id=values["message_id"])
    try:
        smtp.send_message(build_mail(settings, row))
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
            smtplib.SMTPNotSupportedError) as exc:
        code = _smtp_code(exc)
        outcome, values = _failure(row, settings, _describe(exc), permanent=code is not None and 500 <= code < 600)
    except (smtplib.SMTPServerDisconnected, OSError, smtplib.SMTPException) as exc:
        _outcome, values = _failure(row, settings, _describe(exc), permanent=False, count_limit=False)
        outcome = "disconnected"
    except ValueError as exc:  # a header the email package refuses: never sendable as it stands
        outcome, values = _failure(row, settings, f"invalid message: {exc}", permanent=True)
    else:
        outcome, values = "sent", {"status": OutboxStatus.SENT.value, "sent_at": utcnow(), "last_error": None}
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values)
                    .execution_options(synchronize_session=False))
    session.commit()
    return outcome


def _failure(row: Any, settings: Any, error: str, *, permanent: bool,
             count_limit: bool = True) -> tuple[str, dict[str, Any]]:
    """Schedule a retry with exponential backoff ('retry'), or give up ('failed'). `row` was read after
    its claim, so `row.attempts` already counts this try."""
    attempts = row.attempts
    if permanent or (count_limit and attempts >= settings.mail_max_attempts):
        return "failed", {"status": OutboxStatus.FAILED.value, "last_error": error[:500]}
    return "retry", {"status": OutboxStatus.PENDING.value, "last_error": error[:500],
                     "not_before": utcnow() + backoff(attempts)}


def backoff(attempts: int) -> timedelta:
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def _relay_down(session: Session, due: list[_Due], error: str) -> int:
    """The relay is unreachable: not the messages' fault, so each stays pending (never failed) and is
    retried with backoff; its attempt count grows so the screen shows it is being retried."""
    retried = 0
    now = utcnow()
    for row in due:
        retried += session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == row.status,
                   OutboxMessage.attempts == row.attempts)
            .values(status=OutboxStatus.PENDING.value, attempts=row.attempts + 1, last_error=error,
                    not_before=now + backoff(row.attempts + 1))
            .execution_options(synchronize_session=False)).rowcount
    session.commit()
    return retried


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return min(codes) if codes else None
    return getattr(exc, "smtp_code", None)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _connect(settings: Any) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30, local_hostname=_local_hostname())
    try:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        _close(smtp)
        raise
    return smtp


_HOSTNAME: list[str] = []


def _local_hostname() -> str:
    if not _HOSTNAME:  # getfqdn can take seconds on a host without DNS; once per process is enough
        _HOSTNAME.append(socket.getfqdn())
    return _HOSTNAME[0]


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def build_mail(settings: Any, message: Any) -> EmailMessage:
    """The RFC 5322 message for an outbox row (ORM object or row). Every header value is a single line."""
    from app.mail.unsubscribe import unsubscribe_url

    mail = EmailMessage()
    mail["From"] = header_safe(settings.mail_from, 254)
    mail["To"] = header_safe(message.to_address, 254)
    mail["Subject"] = header_safe(message.subject)
    mail["Date"] = format_datetime(to_tokyo(utcnow()))  # +0900, as the readers expect
    mail["Message-ID"] = header_safe(message.message_id or "", 200)
    if message.campaign_id is not None and message.registrant_id is not None:
        # RFC 2369 + RFC 8058: mail clients offer a one-click unsubscribe that POSTs to this URL.
        mail["List-Unsubscribe"] = f"<{unsubscribe_url(settings, message.registrant_id)}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    else:
        mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.body_text.replace("\r\n", "\n").replace("\r", "\n"), charset="utf-8")
    return mail
