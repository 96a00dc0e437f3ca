"""Bulk and direct messages: the in-app inbox with read state, and e-mail for those who may receive it.

A send is one Message row and its MessageRecipient rows, written with one INSERT … SELECT over the
audience (never a Python loop over registrants). Only active registrants get a message. With e-mail,
one mail campaign goes out through app.mail.compose.queue_campaign (consent, suppression and opt-out are
applied there); its outbox rows decide exactly which recipients are marked `emailed`. The mail only says
that a message arrived (its subject) and links to the inbox: the text itself stays behind the login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.core.pagination import Page
from app.core.timeutil import utcnow
from app.inbox.models import Message, MessageRecipient
from app.mail import compose
from app.mail.models import OutboxMessage
from app.registrants.models import Registrant, RegistrantStatus

SUBJECT_MAX = 200
BODY_MAX = 4000
ALL_ACTIVE, SAVED_SEARCH, DIRECT = "all_active", "saved_search", "direct"
AUDIENCE_LABELS = {ALL_ACTIVE: _l("有効な登録者全員"), SAVED_SEARCH: _l("保存した検索"), DIRECT: _l("個別(1名)")}
INBOX_PAGE_SIZE = 20
ADMIN_PAGE_SIZE = 30
DIRECT_MAIL_CATEGORY = "inbox_direct"


class MessageError(ValueError):
    """A send that cannot be made; the message is shown to the user as is."""


# --- audience ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Who a bulk message goes to: everyone active, or the active registrants of a saved search."""

    audience: str
    saved_search_id: int | None = None

    def mail_audience(self) -> compose.Audience:
        if self.audience == SAVED_SEARCH:
            return compose.Audience(saved_search_id=self.saved_search_id)
        return compose.Audience(criteria={"statuses": [RegistrantStatus.ACTIVE.value]})

    def condition(self, session: Session, staff: Any) -> Any:
        """SQL condition on Registrant naming the active registrants of this target; MessageError if unusable."""
        active = Registrant.status == RegistrantStatus.ACTIVE.value
        if self.audience == ALL_ACTIVE:
            return active
        if self.audience == SAVED_SEARCH:
            try:
                return sa.and_(active, Registrant.id.in_(self.mail_audience().selection(session, staff)))
            except compose.ComposeError as exc:
                raise MessageError(str(exc)) from None
        raise MessageError(str(_l("宛先の指定が正しくありません。")))


@dataclass(frozen=True)
class Reach:
    inbox: int
    email: int


def reach(session: Session, staff: Any, target: Target) -> Reach:
    """How many get it in the inbox (active) and how many of them may also get the mail."""
    row = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((compose.eligible(), 1), else_=0)), 0))
        .select_from(Registrant).where(target.condition(session, staff))).one()
    return Reach(inbox=int(row[0] or 0), email=int(row[1] or 0))


# --- sending (caller commits) ------------------------------------------------------------------------

def _clean(subject: str, body: str) -> tuple[str, str]:
    subject = " ".join((subject or "").split())
    body = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not subject:
        raise MessageError(str(_l("件名を入力してください。")))
    if not body.strip():
        raise MessageError(str(_l("本文を入力してください。")))
    if len(subject) > SUBJECT_MAX:
        raise MessageError(str(_l("件名は%(max)d文字以内で入力してください。", max=SUBJECT_MAX)))
    if len(body) > BODY_MAX:
        raise MessageError(str(_l("本文は%(max)d文字以内で入力してください。", max=BODY_MAX)))
    return subject, body


def _deliver(session: Session, message: Message, condition: Any) -> int:
    """Inbox rows for every registrant meeting `condition`, in one INSERT … SELECT; returns how many."""
    session.execute(sa.insert(MessageRecipient).from_select(
        ["message_id", "registrant_id"],
        sa.select(sa.literal(message.id, sa.Integer), Registrant.id).where(condition)))
    return int(session.scalar(sa.select(sa.func.count()).select_from(MessageRecipient)
                              .where(MessageRecipient.message_id == message.id)) or 0)


def _literal(text: str) -> str:
    """Text placed in a mail template as itself: every "{" becomes a Jinja expression printing "{"."""
    return text.replace("{", '{{ "{" }}')


def notice_subject(subject: str, template: bool = False) -> str:
    """The notice mail's subject; as a mail template (`template`) the message subject is kept literal."""
    return str(_l("【つなぐ】新しいメッセージ: %(subject)s", subject=_literal(subject) if template else subject))


def notice_body(settings: Any, subject: str, name: str | None = None) -> str:
    """The mail that points to the inbox. Without `name` it is a mail template (氏名 merged per recipient,
    the subject kept literal); with it, the finished text for one person."""
    return str(_l("%(name)s 様\n\n「つなぐ」の受信箱に新しいメッセージが届きました。\n\n件名: %(subject)s\n\n"
                  "内容は次のページでログインしてご覧ください。\n%(url)s\n",
                  name="{{ 氏名 }}" if name is None else name, subject=_literal(subject) if name is None else subject,
                  url=settings.public_url("/inbox")))


def _mark_emailed(session: Session, message: Message, campaign_id: int) -> int:
    mailed = sa.select(OutboxMessage.registrant_id).where(OutboxMessage.campaign_id == campaign_id)
    result = session.execute(sa.update(MessageRecipient)
                             .where(MessageRecipient.message_id == message.id,
                                    MessageRecipient.registrant_id.in_(mailed))
                             .values(emailed=True).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def send_bulk(session: Session, settings: Any, staff: Any, target: Target, subject: str, body: str, *,
              email: bool, ip: str | None = None) -> Message:
    """Deliver a message to the target's active registrants; with `email`, also mail those who may get it.
    Audited with counts only. MessageError when nobody would get it. Caller commits."""
    subject, body = _clean(subject, body)
    condition = target.condition(session, staff)
    if not session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(condition)):
        raise MessageError(str(_l("届けられる登録者がいません(有効な登録者が宛先に含まれていません)。")))
    now = utcnow()
    message = Message(subject=subject, body=body, audience=target.audience, saved_search_id=target.saved_search_id,
                      send_email=email, sent_at=now, created_at=now, created_by_id=getattr(staff, "id", None))
    session.add(message)
    session.flush()
    message.recipient_count = _deliver(session, message, condition)
    emailed = _mail(session, settings, staff, message, target.mail_audience(), ip) if email else 0
    audit.record(session, staff, "message.send", f"message:{message.id}",
                 {"audience": target.audience, "saved_search_id": target.saved_search_id,
                  "recipients": message.recipient_count, "emailed": emailed,
                  "mail_campaign_id": message.mail_campaign_id}, ip)
    return message


def _mail(session: Session, settings: Any, staff: Any, message: Message, audience: compose.Audience,
          ip: str | None) -> int:
    mailable = session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(
        Registrant.id.in_(audience.id_select(session, staff)), compose.eligible()))
    if not mailable:  # nobody may receive mail: the inbox delivery stands on its own
        return 0
    try:
        campaign = compose.queue_campaign(session, settings, staff, audience,
                                          notice_subject(message.subject, template=True),
                                          notice_body(settings, message.subject), None, ip)
    except compose.ComposeError as exc:
        raise MessageError(str(exc)) from None
    message.mail_campaign_id = campaign.id
    return _mark_emailed(session, message, campaign.id)


def send_direct(session: Session, staff: Any, registrant: Any, subject: str, body: str, *, email: bool) -> Message:
    """One message into one registrant's inbox (audience "direct"), e.g. a staff reply to an inquiry. With
    `email`, a notice mail goes out if the registrant may receive mail (active, consent, not suppressed);
    it is recorded in the output history. Caller commits."""
    from flask import current_app

    from app.mail.services import enqueue, is_address
    from app.outputs.models import OutputKind
    from app.outputs.services import record_output

    subject, body = _clean(subject, body)
    now = utcnow()
    message = Message(subject=subject, body=body, audience=DIRECT, send_email=email, sent_at=now, created_at=now,
                      created_by_id=getattr(staff, "id", None), recipient_count=1)
    session.add(message)
    session.flush()
    recipient = MessageRecipient(message_id=message.id, registrant_id=registrant.id)
    session.add(recipient)
    may_mail = email and is_address(registrant.email or "") and bool(session.scalar(
        sa.select(sa.func.count()).select_from(Registrant).where(Registrant.id == registrant.id, compose.eligible())))
    if may_mail:
        settings = current_app.extensions["tsunagu.settings"]
        enqueue(session, to=registrant.email, subject=notice_subject(subject),
                body=notice_body(settings, subject, registrant.full_name),
                category=DIRECT_MAIL_CATEGORY, registrant_id=registrant.id)
        recipient.emailed = True
        record_output(session, staff, kind=OutputKind.MAIL, title=notice_subject(subject),
                      filters={"message_id": message.id, "registrant_ids": [registrant.id]}, row_count=1,
                      filename=None, sha256=compose.recipients_sha256([registrant.id]), ip=None)
    session.flush()
    audit.record(session, staff, "message.send", f"message:{message.id}",
                 {"audience": DIRECT, "registrant_id": registrant.id, "recipients": 1, "emailed": int(may_mail)})
    return message


# --- the registrant's inbox --------------------------------------------------------------------------

def unread_count(session: Session, registrant_id: int) -> int:
    """One COUNT on ix_message_recipient_registrant_read."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(MessageRecipient).where(
        MessageRecipient.registrant_id == registrant_id, MessageRecipient.read_at.is_(None))) or 0)


def inbox_page(session: Session, registrant_id: int, page: int) -> Page:
    """The registrant's messages newest first, as (Message, read_at) rows."""
    stmt = (sa.select(Message, MessageRecipient.read_at)
            .join(MessageRecipient, MessageRecipient.message_id == Message.id)
            .where(MessageRecipient.registrant_id == registrant_id)
            .order_by(Message.sent_at.desc(), Message.id.desc()))
    total = session.scalar(sa.select(sa.func.count()).select_from(MessageRecipient)
                           .where(MessageRecipient.registrant_id == registrant_id)) or 0
    rows = session.execute(stmt.limit(INBOX_PAGE_SIZE).offset((page - 1) * INBOX_PAGE_SIZE)).all()
    return Page([tuple(row) for row in rows], page, INBOX_PAGE_SIZE, int(total))


def open_message(session: Session, registrant_id: int, message_id: int) -> tuple[Message, datetime] | None:
    """The message and when it was first read, if it was sent to this registrant (marked read on the first
    opening; caller commits); None otherwise."""
    recipient = session.get(MessageRecipient, (message_id, registrant_id))
    if recipient is None:
        return None
    if recipient.read_at is None:
        now = utcnow()
        # conditional, so two tabs opening it at once keep the first time
        session.execute(sa.update(MessageRecipient)
                        .where(MessageRecipient.message_id == message_id,
                               MessageRecipient.registrant_id == registrant_id, MessageRecipient.read_at.is_(None))
                        .values(read_at=now).execution_options(synchronize_session=False))
        session.refresh(recipient)
    message = session.get(Message, message_id)
    return (message, recipient.read_at) if message is not None else None  # type: ignore[return-value]


# --- staff views and reports -------------------------------------------------------------------------

def _tallies() -> Any:
    return (sa.select(MessageRecipient.message_id, sa.func.count().label("recipients"),
                      sa.func.count(MessageRecipient.read_at).label("read"),
                      sa.func.coalesce(sa.func.sum(sa.case((MessageRecipient.emailed == sa.true(), 1), else_=0)), 0)
                      .label("emailed"))
            .group_by(MessageRecipient.message_id).subquery())


def admin_page(session: Session, page: int, include_direct: bool = False) -> Page:
    """Sent messages newest first with recipients, reads and e-mails counted in SQL: rows of
    (Message, recipients, read, emailed)."""
    counts = _tallies()
    stmt = (sa.select(Message, sa.func.coalesce(counts.c.recipients, 0), sa.func.coalesce(counts.c.read, 0),
                      sa.func.coalesce(counts.c.emailed, 0))
            .outerjoin(counts, counts.c.message_id == Message.id))
    count_stmt = sa.select(sa.func.count()).select_from(Message)
    if not include_direct:
        stmt = stmt.where(Message.audience != DIRECT)
        count_stmt = count_stmt.where(Message.audience != DIRECT)
    stmt = stmt.order_by(Message.sent_at.desc(), Message.id.desc())
    rows = session.execute(stmt.limit(ADMIN_PAGE_SIZE).offset((page - 1) * ADMIN_PAGE_SIZE)).all()
    return Page([tuple(row) for row in rows], page, ADMIN_PAGE_SIZE, int(session.scalar(count_stmt) or 0))


@dataclass(frozen=True)
class ReadState:
    recipients: int
    read: int
    emailed: int

    @property
    def unread(self) -> int:
        return self.recipients - self.read

    @property
    def rate(self) -> float:
        return self.read / self.recipients if self.recipients else 0.0


def read_state(session: Session, message_id: int) -> ReadState:
    row = session.execute(
        sa.select(sa.func.count(), sa.func.count(MessageRecipient.read_at),
                  sa.func.coalesce(sa.func.sum(sa.case((MessageRecipient.emailed == sa.true(), 1), else_=0)), 0))
        .where(MessageRecipient.message_id == message_id)).one()
    return ReadState(*(int(value or 0) for value in row))


def message_stats(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Bulk messages sent in [start, end) (naive UTC): how many, their recipients, how many of those read
    them (so far) and how many were also e-mailed. Direct messages (inquiry replies) are not counted."""
    sent = sa.and_(Message.sent_at >= start, Message.sent_at < end, Message.audience != DIRECT)
    messages = session.scalar(sa.select(sa.func.count()).select_from(Message).where(sent)) or 0
    row = session.execute(
        sa.select(sa.func.count(), sa.func.count(MessageRecipient.read_at),
                  sa.func.coalesce(sa.func.sum(sa.case((MessageRecipient.emailed == sa.true(), 1), else_=0)), 0))
        .select_from(MessageRecipient).join(Message, Message.id == MessageRecipient.message_id).where(sent)).one()
    return {"messages": int(messages), "recipients": int(row[0] or 0), "read": int(row[1] or 0),
            "emailed": int(row[2] or 0)}
