"""Demo inquiries: one answered (from the demo registrant, so their list shows a reply) and one still open.
Idempotent; flushes, the caller commits. No mail is queued."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.timeutil import utcnow
from app.correspondence.models import Correspondence
from app.demo.services import DEMO_REGISTRANT_EMAIL
from app.inquiries import services
from app.inquiries.models import Inquiry, InquiryStatus
from app.registrants.models import Registrant, RegistrantSource, RegistrantStatus
from app.staff.models import Role, StaffUser

ANSWERED = ("登録内容の変更について", "転居したので住所を変更したいのですが、どこから手続きできますか。",
            "お問い合わせありがとうございます。住所の変更は、ログイン後の「登録情報」画面の「登録内容を変更する」から"
            "行えます。ご不明な点があれば、またお問い合わせください。")
OPEN = ("交流会の駐車場について", "来月の交流会に車で参加したいのですが、会場に駐車場はありますか。")


def load(session: Session, rng: random.Random) -> None:
    subjects = [ANSWERED[0], OPEN[0]]
    if session.scalar(sa.select(sa.func.count()).select_from(Inquiry).join(
            Correspondence, Correspondence.id == Inquiry.correspondence_id).where(Correspondence.subject.in_(subjects))):
        return
    demo_registrant = session.scalar(sa.select(Registrant).where(Registrant.email == DEMO_REGISTRANT_EMAIL))
    others = list(session.scalars(sa.select(Registrant).where(
        Registrant.source == RegistrantSource.DEMO.value, Registrant.status == RegistrantStatus.ACTIVE.value,
        Registrant.email != DEMO_REGISTRANT_EMAIL).order_by(Registrant.id).limit(50)))
    if demo_registrant is None or not others:
        return
    staff = session.scalar(sa.select(StaffUser).where(StaffUser.role == Role.EDITOR.value).order_by(StaffUser.id))
    now = utcnow()
    asked_at = now - timedelta(days=6)
    answered = _inquiry(session, demo_registrant, ANSWERED[0], ANSWERED[1], asked_at)
    reply = Correspondence(registrant_id=demo_registrant.id, occurred_at=asked_at + timedelta(days=1),
                           channel_id=services.reply_channel(session).id, staff_id=staff.id if staff else None,
                           staff_name=staff.display_name if staff else "事務局", subject="Re: " + ANSWERED[0],
                           body=ANSWERED[2], outcome="問い合わせへの回答", created_at=asked_at + timedelta(days=1),
                           updated_at=asked_at + timedelta(days=1))
    session.add(reply)
    session.flush()
    answered.status, answered.answered_at = InquiryStatus.ANSWERED.value, reply.occurred_at
    answered.answered_by_id, answered.reply_correspondence_id = reply.staff_id, reply.id
    _inquiry(session, rng.choice(others), OPEN[0], OPEN[1], now - timedelta(hours=5))
    session.flush()


def _inquiry(session: Session, registrant: Registrant, subject: str, body: str, at: datetime) -> Inquiry:
    entry = Correspondence(registrant_id=registrant.id, occurred_at=at, channel_id=services.inquiry_channel(session).id,
                           staff_id=None, staff_name=services.FROM_REGISTRANT, subject=subject, body=body,
                           created_at=at, updated_at=at)
    session.add(entry)
    session.flush()
    inquiry = Inquiry(registrant_id=registrant.id, correspondence_id=entry.id, status=InquiryStatus.OPEN.value,
                      received_at=at)
    session.add(inquiry)
    session.flush()
    return inquiry
