"""Demo messages: three bulk messages to every active registrant, each read by about half of them (the demo
registrant has read the oldest and not the newest). Idempotent: nothing happens if any message exists."""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.core.timeutil import utcnow
from app.inbox import services
from app.inbox.models import Message, MessageRecipient
from app.registrants.models import Registrant
from app.staff.models import StaffUser

DEMO_REGISTRANT_EMAIL = "registrant@example.com"
MESSAGES = [
    (20, "年度末のご登録内容の確認のお願い",
     "いつも「つなぐ」をご利用いただき、ありがとうございます。\n\n"
     "年度末に向けて、登録情報(連絡先・勤務できる条件)が最新かどうかをご確認ください。\n"
     "「登録情報」から確認・変更できます。"),
    (8, "研修「学び直し講座」の参加者募集",
     "復職を考えている方向けの学び直し講座を開きます。\n\n"
     "日時や申込方法は「イベント」をご覧ください。https://www.example.com/training"),
    (1, "アンケートへのご協力のお願い",
     "登録者の皆さまの声をサービスの改善に生かすため、短いアンケートを実施しています。\n\n"
     "「アンケート」から回答できます(5分ほどで終わります)。"),
]


def load(session: Session, rng: random.Random) -> None:
    if session.scalar(sa.select(sa.func.count()).select_from(Message)):
        return
    staff = session.scalars(sa.select(StaffUser).where(StaffUser.role == "editor").order_by(StaffUser.id)).first()
    if staff is None:
        return
    settings = current_app.extensions["tsunagu.settings"]
    demo_id = session.scalar(sa.select(Registrant.id).where(Registrant.email == DEMO_REGISTRANT_EMAIL))
    now = utcnow().replace(microsecond=0)
    sent: list[Message] = []
    for index, (days_ago, subject, body) in enumerate(MESSAGES):
        try:
            message = services.send_bulk(session, settings, staff, services.Target(services.ALL_ACTIVE), subject,
                                         body, email=index == 0)
        except services.MessageError:  # no active registrants in this database
            return
        message.sent_at = message.created_at = now - timedelta(days=days_ago)
        _read_by_half(session, message, rng)
        sent.append(message)
    if demo_id is not None:
        _mark(session, sent[0].id, [demo_id], sent[0].sent_at + timedelta(hours=3))  # type: ignore[operator]
        _mark(session, sent[-1].id, [demo_id], None)
    session.flush()


def _read_by_half(session: Session, message: Message, rng: random.Random) -> None:
    ids = session.scalars(sa.select(MessageRecipient.registrant_id)
                          .where(MessageRecipient.message_id == message.id)
                          .order_by(MessageRecipient.registrant_id)).all()
    readers = [registrant_id for registrant_id in ids if rng.random() < 0.5]
    for hours, start in ((2, 0), (26, 1), (50, 2)):  # reads spread over the first days
        _mark(session, message.id, readers[start::3], message.sent_at + timedelta(hours=hours))  # type: ignore[operator]


def _mark(session: Session, message_id: int, registrant_ids: list[int], read_at: object) -> None:
    if registrant_ids:
        session.execute(sa.update(MessageRecipient)
                        .where(MessageRecipient.message_id == message_id,
                               MessageRecipient.registrant_id.in_(registrant_ids))
                        .values(read_at=read_at).execution_options(synchronize_session=False))
