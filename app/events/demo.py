"""Demo events: an in-person 交流会 next month (capacity 30, about 20 going), a full online 研修 (capacity 5,
2 waitlisted) and a past event with attendance recorded. Idempotent; flushes, the caller commits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.timeutil import TOKYO, utcnow
from app.demo.services import DEMO_REGISTRANT_EMAIL
from app.events.models import Event, EventRsvp, RsvpStatus
from app.registrants.models import Registrant, RegistrantSource, RegistrantStatus
from app.staff.models import StaffUser

TITLES = ("教職員OB・OG交流会(長野会場)", "オンライン研修「これからの学校と地域」", "復職希望者向け説明会・交流会")


def _utc(day: datetime, hour: int) -> datetime:
    """That Tokyo calendar day at `hour`:00, as the naive UTC value stored."""
    return datetime.combine(day.date(), time(hour, 0), TOKYO).astimezone(UTC).replace(tzinfo=None)


def load(session: Session, rng: random.Random) -> None:
    if session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.title.in_(TITLES))):
        return
    people = list(session.scalars(sa.select(Registrant.id).where(
        Registrant.source == RegistrantSource.DEMO.value, Registrant.status == RegistrantStatus.ACTIVE.value,
        Registrant.email != DEMO_REGISTRANT_EMAIL).order_by(Registrant.id)))
    rng.shuffle(people)
    editor = session.scalar(sa.select(StaffUser.id).order_by(StaffUser.id))
    now = utcnow()
    today = datetime.now(TOKYO)
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=15)
    in_three_weeks = today + timedelta(days=21)
    last_month = today - timedelta(days=30)

    meetup = _event(session, editor, now, TITLES[0], next_month, 14, 16, capacity=30,
                    place="長野県庁 講堂(架空)長野市大字南長野幅下692-2",
                    description="県内の学校で勤務された皆さんの交流会です。近況の共有や、復職・地域活動の情報交換を行います。"
                                "\n参加費無料。どなたでもお気軽にお申し込みください。")
    training = _event(session, editor, now, TITLES[1], in_three_weeks, 19, 20, capacity=5,
                      online_url="https://meet.example.com/tsunagu-demo",
                      description="オンライン(ビデオ会議)で行う少人数の研修です。学校支援ボランティアの最新事情を紹介します。")
    past = _event(session, editor, now, TITLES[2], last_month, 10, 12, capacity=None,
                  place="松本市中央公民館(架空)",
                  description="復職を考えている方向けの説明会と交流会を行いました。")
    session.flush()
    _rsvps(session, meetup, people[:20], now - timedelta(days=7), RsvpStatus.GOING)
    _rsvps(session, training, people[20:25], now - timedelta(days=5), RsvpStatus.GOING)
    _rsvps(session, training, people[25:27], now - timedelta(days=2), RsvpStatus.WAITLIST)
    attended = _rsvps(session, past, people[27:39], now - timedelta(days=40), RsvpStatus.GOING)
    for row in attended:
        row.attended = rng.random() < 0.8
    session.flush()


def _event(session: Session, editor: int | None, now: datetime, title: str, day: datetime, start: int, end: int, *,
           capacity: int | None, description: str, place: str | None = None,
           online_url: str | None = None) -> Event:
    event = Event(title=title, description=description, starts_at=_utc(day, start), ends_at=_utc(day, end),
                  place=place, online_url=online_url, capacity=capacity, published_at=now - timedelta(days=10),
                  created_by_id=editor, created_at=now - timedelta(days=12), updated_at=now - timedelta(days=10))
    session.add(event)
    return event


def _rsvps(session: Session, event: Event, ids: list[int], since: datetime, status: RsvpStatus) -> list[EventRsvp]:
    rows = [EventRsvp(event_id=event.id, registrant_id=registrant_id, status=status.value,
                      responded_at=since + timedelta(minutes=17 * n), updated_at=since + timedelta(minutes=17 * n))
            for n, registrant_id in enumerate(ids)]
    session.add_all(rows)
    return rows
