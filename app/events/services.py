"""Exchange events: editing, RSVP with capacity and waitlist, cancellation, reminders, attendance, export.

Seats are decided under a lock on the event row, so two last-seat RSVPs (or a double submit) can never both
get in: `with_for_update()` on MariaDB; on SQLite a no-op UPDATE takes the database's single write lock first
(a plain SELECT there takes no lock, and both requests would count the same free seat). Every read that
decides a seat after the lock is a locking read too: under MariaDB's REPEATABLE READ a plain SELECT would
still see the snapshot taken before the other request committed.

Services never commit; the caller commits (the view, or the reminder batch per event).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import TOKYO, to_tokyo, tokyo_day_start_utc, utcnow
from app.core.xlsx import save_streaming
from app.events.models import Event, EventRsvp, RsvpStatus
from app.mail.compose import eligible, recipients_sha256
from app.mail.services import enqueue
from app.outputs.models import OutputKind
from app.outputs.services import HashingWriter, record_output
from app.registrants.models import Registrant, RegistrantStatus

log = logging.getLogger("tsunagu.events")
MAIL_CATEGORY = "event"
TITLE_MAX = 200
DESCRIPTION_MAX = 4000
PLACE_MAX = 200
URL_MAX = 500
CAPACITY_MAX = 100000
PORTAL_PATH = "/events/"
WEEKDAYS = "月火水木金土日"


class EventError(ValueError):
    """A refusal the user is shown as it is (a translated sentence)."""


# --- states and counts ------------------------------------------------------------------------------

STATE_LABELS = {"draft": _l("下書き"), "open": _l("公開中"), "cancelled": _l("中止"), "past": _l("終了")}
RSVP_LABELS = {RsvpStatus.GOING.value: _l("参加"), RsvpStatus.WAITLIST.value: _l("キャンセル待ち"),
               RsvpStatus.CANCELLED.value: _l("取消")}


def state_of(event: Event, now: datetime | None = None) -> str:
    """draft, cancelled, past (started) or open."""
    if event.published_at is None:
        return "draft"
    if event.cancelled_at is not None:
        return "cancelled"
    return "past" if event.starts_at <= (now or utcnow()) else "open"


def rsvp_deadline(event: Event) -> datetime:
    """RSVPs are taken until the deadline, and never after the start."""
    if event.rsvp_closes_at is not None and event.rsvp_closes_at < event.starts_at:
        return event.rsvp_closes_at
    return event.starts_at


def rsvp_problem(event: Event, now: datetime | None = None) -> str | None:
    """Why no RSVP can be taken now, or None."""
    now = now or utcnow()
    if event.published_at is None:
        return _("このイベントは公開されていません。")
    if event.cancelled_at is not None:
        return _("このイベントは中止になりました。")
    if event.starts_at <= now:
        return _("このイベントはすでに始まっているため、申し込めません。")
    if rsvp_deadline(event) <= now:
        return _("申込の締切を過ぎているため、申し込めません。")
    return None


@dataclass(frozen=True)
class Counts:
    going: int = 0
    waitlist: int = 0
    cancelled: int = 0
    attended: int = 0
    absent: int = 0

    def seats_left(self, capacity: int | None) -> int | None:
        return None if capacity is None else max(0, capacity - self.going)


def counts(session: Session, event_ids: list[int]) -> dict[int, Counts]:
    """RSVP counts per event (one GROUP BY query); events without RSVPs get zeros."""
    if not event_ids:
        return {}
    rows = session.execute(
        sa.select(EventRsvp.event_id, EventRsvp.status, sa.func.count(),
                  sa.func.sum(sa.case((EventRsvp.attended.is_(True), 1), else_=0)),
                  sa.func.sum(sa.case((EventRsvp.attended.is_(False), 1), else_=0)))
        .where(EventRsvp.event_id.in_(event_ids)).group_by(EventRsvp.event_id, EventRsvp.status))
    tally: dict[int, dict[str, int]] = {event_id: {} for event_id in event_ids}
    for event_id, status, number, attended, absent in rows:
        tally[event_id][status] = int(number)
        if status == RsvpStatus.GOING.value:
            tally[event_id]["attended"], tally[event_id]["absent"] = int(attended or 0), int(absent or 0)
    return {event_id: Counts(**values) for event_id, values in tally.items()}


def admin_events(session: Session, *, past: bool, now: datetime | None = None) -> list[Event]:
    """Upcoming events (soonest first) or past ones (latest first), drafts and cancelled ones included."""
    now = now or utcnow()
    stmt = sa.select(Event)
    if past:
        return list(session.scalars(stmt.where(Event.starts_at <= now).order_by(Event.starts_at.desc(),
                                                                                  Event.id.desc())))
    return list(session.scalars(stmt.where(Event.starts_at > now).order_by(Event.starts_at, Event.id)))


# --- staff: edit, publish, cancel -----------------------------------------------------------------------

EDITABLE = ("title", "description", "starts_at", "ends_at", "place", "online_url", "capacity", "rsvp_closes_at")


def save_event(session: Session, settings: Any, actor: Any, event: Event | None, values: dict[str, Any],
               ip: str | None) -> Event:
    """Create or change an event. A raised capacity moves waitlisted registrants up (and mails them)."""
    creating = event is None
    if event is None:
        event = Event(created_by_id=actor.id, created_at=utcnow())
        session.add(event)
        changed = sorted(values)
    else:
        _lock_event(session, event.id)
        changed = sorted(name for name in EDITABLE if getattr(event, name) != values[name])
    for name in EDITABLE:
        setattr(event, name, values[name])
    event.updated_at = utcnow()
    session.flush()
    promoted = [] if creating else fill_seats(session, settings, event)
    audit.record(session, actor, "event.create" if creating else "event.edit", f"event:{event.id}",
                 {"changed": changed, "promoted": len(promoted)}, ip)
    return event


def publish(session: Session, actor: Any, event: Event, ip: str | None) -> None:
    if event.cancelled_at is not None:
        raise EventError(_("中止したイベントは公開できません。"))
    if event.published_at is None:
        event.published_at = utcnow()
        audit.record(session, actor, "event.publish", f"event:{event.id}", {}, ip)


def cancel_event(session: Session, settings: Any, actor: Any, event: Event, ip: str | None) -> int:
    """Call the event off and mail everyone going or waitlisted (who may receive mail). Returns mails queued."""
    _lock_event(session, event.id)
    if event.cancelled_at is not None:
        raise EventError(_("このイベントはすでに中止になっています。"))
    event.cancelled_at = utcnow()
    recipients: list[int] = []
    if event.published_at is not None:
        people = session.scalars(
            sa.select(Registrant).join(EventRsvp, EventRsvp.registrant_id == Registrant.id)
            .where(EventRsvp.event_id == event.id,
                   EventRsvp.status.in_([RsvpStatus.GOING.value, RsvpStatus.WAITLIST.value]), eligible())
            .order_by(Registrant.id))
        for registrant in people:
            if _mail(session, settings, registrant, *cancellation_mail(settings, event, registrant)):
                recipients.append(registrant.id)
        record_output(session, actor, kind=OutputKind.MAIL, title=_("イベント中止のお知らせ: %(title)s", title=event.title),
                      filters={"event_id": event.id}, row_count=len(recipients),
                      filename=None, sha256=recipients_sha256(recipients), ip=ip)
    audit.record(session, actor, "event.cancel", f"event:{event.id}", {"mails": len(recipients)}, ip)
    return len(recipients)


# --- RSVP -----------------------------------------------------------------------------------------------

def _lock_event(session: Session, event_id: int) -> Event | None:
    """The event row, locked until the transaction ends (see the module docstring)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.update(Event).where(Event.id == event_id).values(updated_at=Event.updated_at)
                        .execution_options(synchronize_session=False))
    return session.scalars(sa.select(Event).where(Event.id == event_id).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()


def _going_count(session: Session, event_id: int) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(EventRsvp).where(
        EventRsvp.event_id == event_id, EventRsvp.status == RsvpStatus.GOING.value).with_for_update()) or 0)


def _rsvp_of(session: Session, event_id: int, registrant_id: int, *, lock: bool = False) -> EventRsvp | None:
    stmt = sa.select(EventRsvp).where(EventRsvp.event_id == event_id, EventRsvp.registrant_id == registrant_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).one_or_none()


def my_rsvp(session: Session, event: Event, registrant: Any) -> EventRsvp | None:
    return _rsvp_of(session, event.id, registrant.id)


def rsvp(session: Session, event_id: int, registrant: Any, ip: str | None, now: datetime | None = None) -> str:
    """Reserve a seat (going) or, when the event is full, a place on the waitlist. Returns the new status.

    Raises EventError when the event takes no RSVPs or the registrant already has one.
    """
    now = now or utcnow()
    event = _lock_event(session, event_id)
    if event is None:
        raise EventError(_("イベントが見つかりません。"))
    problem = rsvp_problem(event, now)
    if problem:
        raise EventError(problem)
    if registrant.status != RegistrantStatus.ACTIVE.value:
        raise EventError(_("登録が有効な方だけが申し込めます。登録の状態をご確認ください。"))
    existing = _rsvp_of(session, event.id, registrant.id, lock=True)
    if existing is not None and existing.status != RsvpStatus.CANCELLED.value:
        raise EventError(_("このイベントにはすでに申し込んでいます。"))
    full = event.capacity is not None and _going_count(session, event.id) >= event.capacity
    status = RsvpStatus.WAITLIST.value if full else RsvpStatus.GOING.value
    if existing is None:
        session.add(EventRsvp(event_id=event.id, registrant_id=registrant.id, status=status, responded_at=now,
                              updated_at=now))
    else:  # applying again after cancelling: to the back of the queue
        existing.status, existing.responded_at, existing.updated_at = status, now, now
        existing.reminded_at = existing.attended = None
    session.flush()
    audit.record(session, registrant, "event.rsvp", f"event:{event.id}", {"status": status}, ip)
    return status


def cancel_rsvp(session: Session, settings: Any, event_id: int, registrant: Any, ip: str | None,
                now: datetime | None = None) -> list[int]:
    """Withdraw an RSVP; a freed seat goes to the first waitlisted registrant. Returns the promoted ids."""
    now = now or utcnow()
    event = _lock_event(session, event_id)
    if event is None:
        raise EventError(_("イベントが見つかりません。"))
    row = _rsvp_of(session, event.id, registrant.id, lock=True)
    if row is None or row.status == RsvpStatus.CANCELLED.value:
        raise EventError(_("このイベントへのお申し込みはありません。"))
    if event.starts_at <= now:
        raise EventError(_("イベントが始まった後は、申込を取り消せません。"))
    previous = row.status
    row.status, row.updated_at = RsvpStatus.CANCELLED.value, now
    session.flush()
    promoted = fill_seats(session, settings, event, now) if previous == RsvpStatus.GOING.value else []
    audit.record(session, registrant, "event.rsvp_cancel", f"event:{event.id}",
                 {"was": previous, "promoted": len(promoted)}, ip)
    return promoted


def fill_seats(session: Session, settings: Any, event: Event, now: datetime | None = None) -> list[int]:
    """Move waitlisted registrants (first come, first served) into free seats; mail each. Event row locked."""
    now = now or utcnow()
    if event.cancelled_at is not None or event.published_at is None or event.starts_at <= now:
        return []
    waiting = select_waitlist(event.id)
    if event.capacity is not None:
        free = event.capacity - _going_count(session, event.id)
        if free <= 0:
            return []
        waiting = waiting.limit(free)
    promoted = []
    for row in session.scalars(waiting.with_for_update()).all():
        row.status, row.updated_at = RsvpStatus.GOING.value, now
        promoted.append(row.registrant_id)
    session.flush()
    if promoted:
        for registrant in session.scalars(sa.select(Registrant).where(Registrant.id.in_(promoted), eligible())):
            _mail(session, settings, registrant, *promotion_mail(settings, event, registrant))
        log.info("event %s: %d moved up from the waitlist", event.id, len(promoted))
    return promoted


def select_waitlist(event_id: int) -> sa.Select[Any]:
    return (sa.select(EventRsvp).where(EventRsvp.event_id == event_id, EventRsvp.status == RsvpStatus.WAITLIST.value)
            .order_by(EventRsvp.responded_at, EventRsvp.id))


# --- the registrant's view ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PortalEvent:
    """An event as a registrant sees it in a list: their own RSVP status (or None) and the seats left."""

    event: Event
    my_status: str | None
    seats_left: int | None  # None: no capacity limit


def portal_events(session: Session, registrant: Any, *, limit: int | None = None,
                  now: datetime | None = None) -> list[PortalEvent]:
    """Published events that have not started (cancelled ones too, marked), soonest first."""
    stmt = (sa.select(Event).where(Event.published_at.is_not(None), Event.starts_at > (now or utcnow()))
            .order_by(Event.starts_at, Event.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    events = list(session.scalars(stmt))
    return _portal_rows(session, registrant, events)


def upcoming_for(session: Session, registrant: Any, limit: int = 3) -> list[PortalEvent]:
    """For the portal top page: the next published events that still go ahead, soonest first."""
    stmt = (sa.select(Event).where(Event.published_at.is_not(None), Event.cancelled_at.is_(None),
                                   Event.starts_at > utcnow()).order_by(Event.starts_at, Event.id).limit(limit))
    return _portal_rows(session, registrant, list(session.scalars(stmt)))


def _portal_rows(session: Session, registrant: Any, events: list[Event]) -> list[PortalEvent]:
    ids = [event.id for event in events]
    tally = counts(session, ids)
    mine = dict(session.execute(sa.select(EventRsvp.event_id, EventRsvp.status).where(
        EventRsvp.event_id.in_(ids), EventRsvp.registrant_id == registrant.id)).all()) if ids else {}
    return [PortalEvent(event, mine.get(event.id), tally[event.id].seats_left(event.capacity)) for event in events]


def portal_event(session: Session, event_id: int) -> Event | None:
    """A published event (past and cancelled ones included: a registrant may follow an old link)."""
    event = session.get(Event, event_id)
    return event if event is not None and event.published_at is not None else None


def waitlist_position(session: Session, row: EventRsvp) -> int:
    """1 for the first in line."""
    ahead = session.scalar(sa.select(sa.func.count()).select_from(EventRsvp).where(
        EventRsvp.event_id == row.event_id, EventRsvp.status == RsvpStatus.WAITLIST.value,
        sa.or_(EventRsvp.responded_at < row.responded_at,
               sa.and_(EventRsvp.responded_at == row.responded_at, EventRsvp.id < row.id))))
    return int(ahead or 0) + 1


# --- attendees and attendance ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Attendee:
    rsvp: EventRsvp
    registrant: Registrant


def attendees(session: Session, event: Event) -> dict[str, list[Attendee]]:
    """RSVPs by status (going, waitlist, cancelled), each in the order they came in."""
    rows = session.execute(sa.select(EventRsvp, Registrant).join(Registrant, Registrant.id == EventRsvp.registrant_id)
                           .where(EventRsvp.event_id == event.id).order_by(EventRsvp.responded_at, EventRsvp.id))
    grouped: dict[str, list[Attendee]] = {status.value: [] for status in RsvpStatus}
    for row, registrant in rows:
        grouped.setdefault(row.status, []).append(Attendee(row, registrant))
    return grouped


def attendance_open(event: Event, now: datetime | None = None) -> bool:
    """Attendance is recorded once the event has started (and it was not called off)."""
    return event.published_at is not None and event.cancelled_at is None and event.starts_at <= (now or utcnow())


def record_attendance(session: Session, actor: Any, event: Event, marks: dict[int, bool | None],
                      ip: str | None) -> int:
    """Set 出席 (True) / 欠席 (False) / 未記録 (None) for going RSVPs by RSVP id. Returns rows changed."""
    if not attendance_open(event):
        raise EventError(_("出欠はイベントの開始後に記録できます。"))
    rows = {row.id: row for row in session.scalars(sa.select(EventRsvp).where(
        EventRsvp.event_id == event.id, EventRsvp.status == RsvpStatus.GOING.value))}
    unknown = set(marks) - set(rows)
    if unknown:
        raise EventError(_("出欠の対象に、このイベントの参加者でない行が含まれています。画面を再読み込みしてください。"))
    changed = 0
    for rsvp_id, value in marks.items():
        if rows[rsvp_id].attended != value:
            rows[rsvp_id].attended = value
            changed += 1
    session.flush()
    audit.record(session, actor, "event.attendance", f"event:{event.id}",
                 {"changed": changed, "attended": sum(1 for v in marks.values() if v is True),
                  "absent": sum(1 for v in marks.values() if v is False)}, ip)
    return changed


# --- attendee list export ---------------------------------------------------------------------------------

EXPORT_HEADER = (_l("氏名"), _l("カナ"), _l("メール"), _l("状態"), _l("申込日時"), _l("出欠"))
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Export:
    writer: HashingWriter
    filename: str
    rows: int


def attendance_label(value: bool | None) -> str:
    return "" if value is None else (_("出席") if value else _("欠席"))


def export_attendees(session: Session, actor: Any, event: Event, ip: str | None) -> Export:
    """The attendee list as xlsx (going, then waitlist, then cancelled), in the output history; caller commits."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("参加者一覧"))
    sheet.freeze_panes = "A2"
    sheet.append([str(label) for label in EXPORT_HEADER])

    def text(value: str) -> Any:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # a name starting with "=" stays text, never a formula
        return cell

    count = 0
    grouped = attendees(session, event)
    for status in (RsvpStatus.GOING.value, RsvpStatus.WAITLIST.value, RsvpStatus.CANCELLED.value):
        for person in grouped.get(status, []):
            responded = WriteOnlyCell(sheet, value=to_tokyo(person.rsvp.responded_at).replace(tzinfo=None))  # type: ignore[union-attr]
            responded.number_format = "yyyy-mm-dd hh:mm"
            sheet.append([text(person.registrant.full_name), text(person.registrant.full_name_kana),
                          text(person.registrant.email), str(RSVP_LABELS[status]), responded,
                          attendance_label(person.rsvp.attended) if status == RsvpStatus.GOING.value else ""])
            count += 1
    out = HashingWriter()
    save_streaming(workbook, out)
    filename = f"tsunagu-event-{event.id}-attendees-{datetime.now(TOKYO):%Y%m%d-%H%M}.xlsx"
    record_output(session, actor, kind=OutputKind.XLSX, title=_("イベント参加者一覧: %(title)s", title=event.title),
                  filters={"event_id": event.id}, row_count=count, filename=filename, sha256=out.sha256, ip=ip)
    return Export(out, filename, count)



# --- mails ------------------------------------------------------------------------------------------------

def when_text(event: Event) -> str:
    """「2026年7月10日(金) 14:00〜16:00」 in Tokyo time."""
    start = to_tokyo(event.starts_at)
    assert start is not None
    text = f"{start.year}年{start.month}月{start.day}日({WEEKDAYS[start.weekday()]}) {start:%H:%M}"
    end = to_tokyo(event.ends_at)
    if end is not None:
        text += "〜" + (f"{end:%H:%M}" if end.date() == start.date() else f"{end.month}月{end.day}日 {end:%H:%M}")
    return text


def _where_lines(event: Event, *, with_url: bool) -> str:
    lines = [str(_l("日時: %(when)s", when=when_text(event)))]
    if event.place:
        lines.append(str(_l("会場: %(place)s", place=event.place)))
    if event.online_url:
        lines.append(str(_l("オンライン参加: %(url)s", url=event.online_url)) if with_url
                     else str(_l("オンライン参加: あり")))
    return "\n".join(lines)


def _event_link(settings: Any, event: Event) -> str:
    return settings.public_url(f"{PORTAL_PATH}{event.id}")


def promotion_mail(settings: Any, event: Event, registrant: Registrant) -> tuple[str, str]:
    with force_locale(settings.default_locale):
        subject = str(_l("【つなぐ】キャンセル待ちから参加が確定しました: %(title)s", title=event.title))
        body = str(_l("%(name)s 様\n\nキャンセル待ちで申し込まれた次のイベントに空きが出たため、参加が確定しました。\n\n"
                      "%(title)s\n%(where)s\n\n詳細の確認や申込の取り消しは、次のページから行えます。\n%(link)s\n",
                      name=registrant.full_name, title=event.title, where=_where_lines(event, with_url=True),
                      link=_event_link(settings, event)))
    return subject, body


def reminder_mail(settings: Any, event: Event, registrant: Registrant) -> tuple[str, str]:
    with force_locale(settings.default_locale):
        subject = str(_l("【つなぐ】明日のイベントのご案内: %(title)s", title=event.title))
        body = str(_l("%(name)s 様\n\nお申し込みいただいた次のイベントは明日開催します。\n\n%(title)s\n%(where)s\n\n"
                      "ご都合が悪くなった場合は、次のページから申込を取り消してください"
                      "(キャンセル待ちの方が参加できるようになります)。\n%(link)s\n",
                      name=registrant.full_name, title=event.title, where=_where_lines(event, with_url=True),
                      link=_event_link(settings, event)))
    return subject, body


def cancellation_mail(settings: Any, event: Event, registrant: Registrant) -> tuple[str, str]:
    with force_locale(settings.default_locale):
        subject = str(_l("【つなぐ】イベント中止のお知らせ: %(title)s", title=event.title))
        body = str(_l("%(name)s 様\n\nお申し込みいただいていた次のイベントは、中止となりました。"
                      "ご迷惑をおかけし申し訳ございません。\n\n%(title)s\n%(where)s\n",
                      name=registrant.full_name, title=event.title, where=_where_lines(event, with_url=False)))
    return subject, body


def _mail(session: Session, settings: Any, registrant: Registrant, subject: str, body: str) -> bool:
    try:
        enqueue(session, to=registrant.email, subject=subject, body=body, category=MAIL_CATEGORY,
                registrant_id=registrant.id)
    except ValueError:
        log.warning("registrant %s: unusable mail address, event mail skipped", registrant.id)
        return False
    return True


# --- reminders ----------------------------------------------------------------------------------------------

@dataclass
class ReminderReport:
    day: str = ""  # the Tokyo date of the events reminded of
    too_early: bool = False
    events: int = 0
    queued: int = 0
    not_mailable: int = 0  # going, but no consent / suppressed / not active: no mail
    errors: list[str] = field(default_factory=list)


def remind(session: Session, settings: Any, *, now: datetime | None = None, force: bool = False,
           actor: Any = audit.SYSTEM, progress: Callable[[str, int, int], Any] | None = None) -> ReminderReport:
    """Queue one reminder per going RSVP for the events starting tomorrow (Tokyo), once each. Commits per event.

    Before `event_reminder_hour` (Tokyo) nothing happens unless `force`. Each RSVP is claimed with a
    compare-and-set on `reminded_at`, so two runs at once never mail anyone twice.
    """
    now = now or utcnow()
    local = to_tokyo(now)
    assert local is not None
    tomorrow = local.date() + timedelta(days=1)
    report = ReminderReport(day=tomorrow.isoformat())
    if not force and local.hour < settings.event_reminder_hour:
        report.too_early = True
        return report
    events = list(session.scalars(sa.select(Event).where(
        Event.published_at.is_not(None), Event.cancelled_at.is_(None),
        Event.starts_at >= tokyo_day_start_utc(tomorrow),
        Event.starts_at < tokyo_day_start_utc(tomorrow + timedelta(days=1))).order_by(Event.starts_at, Event.id)))
    session.commit()
    recipients: list[int] = []
    for done, event in enumerate(events, start=1):
        for registrant_id, registrant, rsvp_id in _due_reminders(session, event):
            if registrant is None:
                report.not_mailable += 1
                continue
            claimed = session.execute(sa.update(EventRsvp).where(EventRsvp.id == rsvp_id,
                                                                 EventRsvp.reminded_at.is_(None))
                                      .values(reminded_at=now)
                                      .execution_options(synchronize_session=False)).rowcount
            if claimed != 1:
                continue
            if _mail(session, settings, registrant, *reminder_mail(settings, event, registrant)):
                recipients.append(registrant_id)
                report.queued += 1
            else:
                report.errors.append(f"registrant:{registrant_id}: unusable mail address")
        event.reminder_sent_at = now
        session.commit()
        report.events += 1
        if progress:
            progress("events", done, len(events))
    if recipients:
        record_output(session, actor, kind=OutputKind.MAIL, title=_("イベント前日のリマインド(%(day)s)", day=report.day),
                      filters={"event_ids": [event.id for event in events]}, row_count=len(recipients),
                      filename=None, sha256=recipients_sha256(recipients), ip=None)
    audit.record(session, actor, "event.remind", "event:*",
                 {"day": report.day, "events": report.events, "queued": report.queued,
                  "not_mailable": report.not_mailable}, None)
    session.commit()
    return report


def _due_reminders(session: Session, event: Event) -> Iterator[tuple[int, Registrant | None, int]]:
    """(registrant id, the registrant if they may be mailed else None, RSVP id) of going RSVPs not yet reminded."""
    rows = session.execute(
        sa.select(EventRsvp.registrant_id, EventRsvp.id).where(
            EventRsvp.event_id == event.id, EventRsvp.status == RsvpStatus.GOING.value,
            EventRsvp.reminded_at.is_(None)).order_by(EventRsvp.responded_at, EventRsvp.id)).all()
    ids = [row.registrant_id for row in rows]
    mailable = {r.id: r for r in session.scalars(sa.select(Registrant).where(Registrant.id.in_(ids), eligible()))} \
        if ids else {}
    for registrant_id, rsvp_id in rows:
        yield registrant_id, mailable.get(registrant_id), rsvp_id


# --- for reports ---------------------------------------------------------------------------------------------

EventStat = tuple[int, str, datetime, int | None, int, int, int]


def event_stats(session: Session, start: datetime, end: datetime) -> list[EventStat]:
    """(event id, title, starts_at, capacity, going, waitlist, attended) of the published, not cancelled
    events starting in [start, end) (naive UTC), by start. One aggregate query."""
    def tally(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    going = EventRsvp.status == RsvpStatus.GOING.value
    rows = session.execute(
        sa.select(Event.id, Event.title, Event.starts_at, Event.capacity, tally(going),
                  tally(EventRsvp.status == RsvpStatus.WAITLIST.value), tally(sa.and_(going, EventRsvp.attended.is_(True))))
        .select_from(Event).outerjoin(EventRsvp, EventRsvp.event_id == Event.id)
        .where(Event.published_at.is_not(None), Event.cancelled_at.is_(None), Event.starts_at >= start,
               Event.starts_at < end)
        .group_by(Event.id, Event.title, Event.starts_at, Event.capacity).order_by(Event.starts_at, Event.id))
    return [(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6])) for row in rows]
