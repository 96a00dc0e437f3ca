"""Inquiries: a registrant's message lands in correspondence history and staff hear of it; staff reply.

The text of an inquiry and of each reply is a Correspondence row (so it appears in the registrant's
correspondence history with everything else); the Inquiry row only tracks the status. Mails to staff carry
no personal data and no text, only that something arrived and where to read it. Services never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.codes.models import Code, CodeKind
from app.core.pagination import Page, paginate
from app.core.timeutil import utcnow
from app.correspondence import services as correspondence
from app.correspondence.models import Correspondence
from app.inquiries.models import Inquiry, InquiryStatus
from app.mail.compose import recipients_sha256
from app.mail.models import MailSuppression
from app.mail.services import enqueue, header_safe, is_address
from app.outputs.models import OutputKind
from app.outputs.services import record_output
from app.registrants.models import Registrant, RegistrantStatus
from app.staff.models import Role, StaffUser

log = logging.getLogger("tsunagu.inquiries")
SUBJECT_MAX = 200
BODY_MAX = 4000
PER_PAGE = 50
RATE_LIMIT = "5 per hour"  # inquiries one registrant may send
INQUIRY_CHANNEL = ("inquiry", "問い合わせフォーム", "Inquiry form")
REPLY_CHANNEL = ("mail", "メール", "Email")
FROM_REGISTRANT = "(登録者からの問い合わせ)"  # staff_name of the correspondence row a registrant wrote
NOTICE_CATEGORY = "inquiry_notice"
REPLY_CATEGORY = "inquiry_reply"
ADMIN_PATH = "/admin/inquiries/"
PORTAL_PATH = "/inquiries/"
STATUS_LABELS = {InquiryStatus.OPEN.value: _l("未対応"), InquiryStatus.ANSWERED.value: _l("回答済み"),
                 InquiryStatus.CLOSED.value: _l("完了")}


class InquiryError(ValueError):
    """A refusal shown to the user as it is."""


def _channel(session: Session, code: str, label: str, label_en: str) -> Code:
    """The correspondence channel code, created if the master lacks it (the demo data has both)."""
    row = session.scalar(sa.select(Code).where(Code.kind == CodeKind.CORRESPONDENCE_CHANNEL.value, Code.code == code))
    if row is None:
        row = Code(kind=CodeKind.CORRESPONDENCE_CHANNEL.value, code=code, label=label, label_en=label_en,
                   sort_order=900)
        session.add(row)
        session.flush()
        log.info("correspondence channel %r created for inquiries", code)
    return row


def inquiry_channel(session: Session) -> Code:
    return _channel(session, *INQUIRY_CHANNEL)


def reply_channel(session: Session) -> Code:
    return _channel(session, *REPLY_CHANNEL)


# --- the registrant's side ------------------------------------------------------------------------------------

def submit(session: Session, settings: Any, registrant: Any, subject: str, body: str, ip: str | None) -> Inquiry:
    """Record the inquiry (correspondence + inquiry rows), audit it without its text, notify staff."""
    now = utcnow()
    entry = Correspondence(registrant_id=registrant.id, occurred_at=now, channel_id=inquiry_channel(session).id,
                           staff_id=None, staff_name=FROM_REGISTRANT, subject=subject[:SUBJECT_MAX],
                           body=body[:BODY_MAX], created_at=now, updated_at=now)
    session.add(entry)
    session.flush()
    inquiry = Inquiry(registrant_id=registrant.id, correspondence_id=entry.id, status=InquiryStatus.OPEN.value,
                      received_at=now)
    session.add(inquiry)
    session.flush()
    notified = notify_staff(session, settings, inquiry)
    audit.record(session, registrant, "inquiry.create", f"inquiry:{inquiry.id}",
                 {"correspondence_id": entry.id, "notified": notified}, ip)
    return inquiry


def notify_to(session: Session, settings: Any) -> list[str]:
    """`inquiry_notify_to`, or else every enabled editor and administrator."""
    configured = [part.strip() for part in settings.inquiry_notify_to.split(",") if part.strip()]
    if configured:
        return [address for address in configured if is_address(address)]
    return list(session.scalars(sa.select(StaffUser.email).where(
        StaffUser.is_enabled.is_(True), StaffUser.role.in_([Role.EDITOR.value, Role.ADMINISTRATOR.value]))
        .order_by(StaffUser.id)))


def notice_mail(settings: Any, inquiry: Inquiry) -> tuple[str, str]:
    """Only that an inquiry arrived and where to read it: no name, no address, no text."""
    with force_locale(settings.default_locale):
        subject = str(_l("【つなぐ】登録者から問い合わせがありました(受付番号 %(id)d)", id=inquiry.id))
        body = str(_l("登録者から問い合わせフォームで問い合わせがありました(受付番号 %(id)d)。\n"
                      "内容の確認と回答は、管理画面で行ってください。\n\n%(link)s\n\n"
                      "このメールには、個人情報保護のため問い合わせの内容を記載していません。\n",
                      id=inquiry.id, link=settings.public_url(f"{ADMIN_PATH}{inquiry.id}")))
    return subject, body


def notify_staff(session: Session, settings: Any, inquiry: Inquiry) -> int:
    subject, body = notice_mail(settings, inquiry)
    addresses = notify_to(session, settings)
    for address in addresses:
        enqueue(session, to=address, subject=subject, body=body, category=NOTICE_CATEGORY)
    if not addresses:
        log.warning("inquiry %s: nobody to notify (no inquiry_notify_to and no enabled editor)", inquiry.id)
    return len(addresses)


def my_inquiries(session: Session, registrant: Any) -> list[tuple[Inquiry, Correspondence | None,
                                                                 Correspondence | None]]:
    """The registrant's own inquiries, newest first, with the inquiry text and the latest reply."""
    inquiries = list(session.scalars(sa.select(Inquiry).where(Inquiry.registrant_id == registrant.id)
                                     .order_by(Inquiry.received_at.desc(), Inquiry.id.desc())))
    entries = _entries(session, [i.correspondence_id for i in inquiries] +
                       [i.reply_correspondence_id for i in inquiries])
    return [(i, entries.get(i.correspondence_id), entries.get(i.reply_correspondence_id)) for i in inquiries]


def _entries(session: Session, ids: Iterable[int | None]) -> dict[int | None, Correspondence]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(sa.select(Correspondence).where(Correspondence.id.in_(wanted)))}


# --- the staff side -------------------------------------------------------------------------------------------

def status_counts(session: Session) -> dict[str, int]:
    found = dict(session.execute(sa.select(Inquiry.status, sa.func.count()).group_by(Inquiry.status)).all())
    return {status.value: int(found.get(status.value, 0)) for status in InquiryStatus}


def search(session: Session, status: str | None, page: int = 1) -> Page:
    """One page of (Inquiry, Registrant, the inquiry's Correspondence) rows, newest first; `status` filters."""
    stmt = (sa.select(Inquiry).where(Inquiry.status == status) if status else sa.select(Inquiry))
    stmt = stmt.order_by(Inquiry.received_at.desc(), Inquiry.id.desc())
    result = paginate(session, stmt, max(1, page), PER_PAGE)
    people = {r.id: r for r in session.scalars(sa.select(Registrant).where(
        Registrant.id.in_({i.registrant_id for i in result.items})))} if result.items else {}
    entries = _entries(session, [i.correspondence_id for i in result.items])
    rows = [(i, people.get(i.registrant_id), entries.get(i.correspondence_id)) for i in result.items]
    return Page(rows, result.page, result.per_page, result.total)


def default_reply_subject(entry: Correspondence | None) -> str:
    subject = entry.subject if entry else ""
    return ("Re: " + subject)[:SUBJECT_MAX]


def _suppressed(session: Session, address: str) -> bool:
    return bool(session.scalar(sa.select(sa.func.count()).select_from(MailSuppression).where(
        MailSuppression.address == address.lower())))


def reply(session: Session, settings: Any, staff: Any, inquiry: Inquiry, subject: str, body: str,
          ip: str | None) -> tuple[Correspondence, bool]:
    """Record the reply in correspondence history, mail it (unless the address is suppressed), put it in the
    in-app inbox, mark the inquiry answered. Returns (the correspondence row, whether it was mailed)."""
    registrant = session.get(Registrant, inquiry.registrant_id)
    if registrant is None or registrant.status == RegistrantStatus.ANONYMISED.value:
        raise InquiryError(_("この登録者には回答を送れません(退会・匿名化済み)。"))
    subject = header_safe(subject, SUBJECT_MAX)
    entry = correspondence.create(session, staff, registrant.id, occurred_at=utcnow(),
                                  channel_id=reply_channel(session).id, subject=subject, body=body,
                                  outcome=str(_("問い合わせへの回答")), ip=ip)
    mailed = False
    if is_address(registrant.email) and not _suppressed(session, registrant.email):
        enqueue(session, to=registrant.email, subject=subject, body=reply_mail_body(settings, registrant, body),
                category=REPLY_CATEGORY, registrant_id=registrant.id)
        mailed = True
        record_output(session, staff, kind=OutputKind.MAIL, title=_("問い合わせへの回答"),
                      filters={"inquiry_id": inquiry.id, "registrant_id": registrant.id}, row_count=1,
                      filename=None, sha256=recipients_sha256([registrant.id]), ip=ip)
    _deliver_to_inbox(session, staff, registrant, subject, body)
    inquiry.status = InquiryStatus.ANSWERED.value
    inquiry.answered_at, inquiry.answered_by_id, inquiry.reply_correspondence_id = utcnow(), staff.id, entry.id
    session.flush()
    audit.record(session, staff, "inquiry.reply", f"inquiry:{inquiry.id}",
                 {"correspondence_id": entry.id, "mailed": mailed}, ip)
    return entry, mailed


def reply_mail_body(settings: Any, registrant: Registrant, body: str) -> str:
    with force_locale(settings.default_locale):
        return str(_l("%(name)s 様\n\n%(body)s\n\n――――――――――\nこのメールは、つなぐの問い合わせフォームからいただいた"
                      "お問い合わせへの回答です。\nこれまでのお問い合わせは次のページで確認できます。\n%(link)s\n",
                      name=registrant.full_name, body=body.rstrip(), link=settings.public_url(PORTAL_PATH)))


def _deliver_to_inbox(session: Session, staff: Any, registrant: Registrant, subject: str, body: str) -> None:
    """The reply also goes to the in-app inbox (email=False: it was just mailed above)."""
    from app.inbox.services import send_direct

    send_direct(session, staff, registrant, subject, body, email=False)


def close(session: Session, staff: Any, inquiry: Inquiry, ip: str | None) -> None:
    if inquiry.status == InquiryStatus.CLOSED.value:
        raise InquiryError(_("この問い合わせはすでに完了しています。"))
    previous = inquiry.status
    inquiry.status = InquiryStatus.CLOSED.value
    audit.record(session, staff, "inquiry.close", f"inquiry:{inquiry.id}", {"was": previous}, ip)


def reopen(session: Session, staff: Any, inquiry: Inquiry, ip: str | None) -> None:
    if inquiry.status != InquiryStatus.CLOSED.value:
        raise InquiryError(_("完了していない問い合わせは再開できません。"))
    inquiry.status = (InquiryStatus.ANSWERED.value if inquiry.answered_at else InquiryStatus.OPEN.value)
    audit.record(session, staff, "inquiry.reopen", f"inquiry:{inquiry.id}", {"now": inquiry.status}, ip)


def inquiry_ids_for(session: Session, correspondence_ids: Iterable[int]) -> dict[int, int]:
    """{correspondence id: inquiry id} for rows that are an inquiry or its recorded reply (for links)."""
    ids = sorted(set(correspondence_ids))
    if not ids:
        return {}
    rows = session.execute(sa.select(Inquiry.id, Inquiry.correspondence_id, Inquiry.reply_correspondence_id).where(
        sa.or_(Inquiry.correspondence_id.in_(ids), Inquiry.reply_correspondence_id.in_(ids))))
    found: dict[int, int] = {}
    for inquiry_id, asked, answered in rows:
        for entry_id in (asked, answered):
            if entry_id in ids:
                found[entry_id] = inquiry_id
    return found
