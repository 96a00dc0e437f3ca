"""The fiscal-year lifecycle of a registration (S5).

A registration is valid until the end of the fiscal year (31 March). `run_lifecycle` is called once a
day by a systemd timer (and by staff with "run now"); it does what is due on that day and is
idempotent, so running twice on one day, or catching up after days the timer missed, neither sends
a mail twice nor skips a step:

1. **Renewal reminders.** Each configured date (`renewal_reminder_dates`, month-day pairs) is placed
   in the fiscal year of the day being processed. The *latest* reminder date on or before that day is
   "due": every ACTIVE registrant whose registration ends with this fiscal year (not yet renewed for
   the next one) and who consented to mail gets that reminder once — a `LifecycleNotice` row
   (unique per registrant, reminder and fiscal year) is written in the same transaction as the
   outbox mail. A day the timer missed is caught up by the next run of the same fiscal year; if both
   reminders were missed, only the later one is sent (one mail, not two on the same day). Once the
   fiscal year has ended, its reminders are never sent.
2. **Expiry.** On and after 1 April, every ACTIVE registration whose `valid_until` is before the day
   becomes EXPIRED (status history reason `fiscal_year_end`, one audit row each). The condition
   itself catches up: the first run after missed days expires them all.
3. **Anonymisation.** Registrations EXPIRED or WITHDRAWN for more than `retention_days` days
   (counted from `status_changed_at`) are anonymised; see `anonymise` for exactly what is erased.

Who may be reached (the rule for mail and matching): only ACTIVE registrants. EXPIRED registrants
are kept (they may still log in and renew) but receive no mail — not even renewal reminders — and
are not matched; pending, withdrawn and anonymised ones are never reached either. Use
`reachable_condition()` in queries that pick recipients or matching candidates.

Status changes are written with the moment of the day being processed: the real time when the day
is today, or the start of that Tokyo day when an operator replays a day with `--today`, so the
retention period counts from the day the change took effect. Audit rows always carry the real time
and name the processed day in their detail.
"""

from __future__ import annotations

import enum
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale, format_date
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app import audit
from app.audit.models import AuditEvent
from app.auth.models import AccountToken, LoginSession
from app.core.timeutil import TOKYO, fiscal_year, fiscal_year_end, tokyo_day_start_utc, utcnow
from app.lifecycle.models import LifecycleNotice
from app.mail.models import OutboxMessage, OutboxStatus
from app.mail.services import enqueue
from app.registrants.models import Registrant, RegistrantStatus, StatusChange
from app.surveys.models import SurveyAnswer, SurveyResponse
from app.sync.models import DuplicateCandidate, QuarantinedRecord

RENEW_PATH = "/me/renew"
REMINDER_PREFIX = "renewal_reminder_"
MAIL_CATEGORY = "renewal_reminder"
RUN_ACTION = "lifecycle.run"
BATCH_SIZE = 200

# What anonymisation writes in place of personal data (stored values, not UI text).
ANONYMISED_NAME = "匿名化済"
ANONYMISED_KANA = "トクメイ"
# Erased (set to NULL): everything that identifies or describes the person in their own words.
ERASED_FIELDS = ("external_id", "birth_date", "phone", "postal_code", "address", "available_from",
                 "availability_note", "former_department", "left_year", "career_note", "interests",
                 "source_hash", "source_updated_at", "password_hash", "password_changed_at",
                 "failure_window_started_at", "locked_until", "last_login_at")
# Kept for aggregate statistics (counts by region, licence, job type, registration period, source):
# region_id, the registrant_code rows, source, referral_id, registered_at, valid_until, renewed_at,
# status dates, consent flags and notice version, and the ConsentRecord / StatusChange rows (which
# hold no personal data).

Progress = Callable[[str, int, int], Any]


def reachable_condition() -> sa.ColumnElement[bool]:
    """Registrants who may be mailed or matched: ACTIVE only (expired ones wait for their renewal)."""
    return Registrant.status == RegistrantStatus.ACTIVE.value


def today_in_tokyo() -> date:
    """The calendar day in Asia/Tokyo (the day the lifecycle and the renewal window are reckoned in)."""
    return datetime.now(TOKYO).date()


# --- reminder calendar ----------------------------------------------------------------------------

def reminder_dates(settings: Any, fiscal: int) -> list[date]:
    """The configured reminder dates placed in fiscal year `fiscal` (April..March), in order."""
    days = []
    for month, day in settings.renewal_reminder_days:
        year = fiscal if month >= 4 else fiscal + 1
        if month == 2 and day == 29 and not _is_leap(year):
            day = 28
        days.append(date(year, month, day))
    return sorted(set(days))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def reminder_kind(day: date) -> str:
    return f"{REMINDER_PREFIX}{day:%m-%d}"


def due_reminder(settings: Any, today: date) -> date | None:
    """The reminder date that is due on `today` (the latest one not after it), or None."""
    passed = [day for day in reminder_dates(settings, fiscal_year(today)) if day <= today]
    return passed[-1] if passed else None


def renewal_window_start(settings: Any, today: date) -> date:
    """Renewal opens on the first reminder date of the fiscal year (1 January if none is configured)."""
    dates = reminder_dates(settings, fiscal_year(today))
    return dates[0] if dates else date(fiscal_year(today) + 1, 1, 1)


def upcoming_reminders(session: Session, settings: Any, today: date,
                       limit: int = 4) -> list[tuple[date, date, int]]:
    """The next reminder dates (this fiscal year's remaining ones, then next year's): (date, the validity
    end it is about, how many registrants would get it if nothing changed before then)."""
    fiscal = fiscal_year(today)
    upcoming = [d for d in reminder_dates(settings, fiscal) if d > today]
    upcoming += reminder_dates(settings, fiscal + 1)
    return [(day, fiscal_year_end(day), session.scalar(sa.select(sa.func.count()).select_from(
        _reminder_candidates(day).subquery())) or 0) for day in upcoming[:limit]]


def _reminder_candidates(day: date) -> sa.Select[Any]:
    fiscal = fiscal_year(day)
    already = sa.select(LifecycleNotice.id).where(
        LifecycleNotice.registrant_id == Registrant.id, LifecycleNotice.kind == reminder_kind(day),
        LifecycleNotice.fiscal_year == fiscal)
    return sa.select(Registrant.id).where(
        reachable_condition(), Registrant.valid_until == fiscal_year_end(day),
        Registrant.mail_consent.is_(True), ~already.exists()).order_by(Registrant.id)


# --- the daily run ----------------------------------------------------------------------------------

@dataclass
class LifecycleReport:
    today: date
    fiscal_year: int
    reminder: str | None = None  # the reminder due on this day (None outside the reminder season)
    reminder_catch_up: bool = False  # the due reminder's date was before this day
    reminders_sent: int = 0
    expired: int = 0
    anonymised: int = 0
    source_copies_purged: int = 0
    errors: list[str] = field(default_factory=list)

    def as_detail(self) -> dict[str, Any]:
        detail = asdict(self)
        detail["today"] = self.today.isoformat()
        return detail


def run_lifecycle(session: Session, settings: Any, today: date, *, actor: Any = audit.SYSTEM,
                  client_ip: str | None = None, progress: Progress | None = None) -> LifecycleReport:
    """Do what is due on `today` (a Tokyo calendar day). Commits as it goes; safe to run again."""
    report = LifecycleReport(today=today, fiscal_year=fiscal_year(today))
    moment = _moment(today)
    send_reminders(session, settings, today, report, moment, progress)
    expire_registrations(session, today, report, moment, actor, progress)
    anonymise_expired(session, settings, today, report, moment, actor, progress)
    purge_source_copies(session, settings, today, report)
    audit.record(session, actor, RUN_ACTION, f"lifecycle:{today.isoformat()}", report.as_detail(), client_ip)
    session.commit()
    return report


def _moment(today: date) -> datetime:
    if today == today_in_tokyo():
        return utcnow()
    return tokyo_day_start_utc(today)


def _batches(ids: Sequence[int], size: int = BATCH_SIZE) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def send_reminders(session: Session, settings: Any, today: date, report: LifecycleReport, moment: datetime,
                   progress: Progress | None = None) -> None:
    due = due_reminder(settings, today)
    if due is None:
        return
    report.reminder, report.reminder_catch_up = reminder_kind(due), due < today
    ids = list(session.scalars(_reminder_candidates(due)))
    done = 0
    for chunk in _batches(ids):
        try:
            sent = _remind_chunk(session, settings, due, chunk, moment, report)
            session.commit()
        except IntegrityError:
            # another node sent some of these at the same moment: its rows win, ours roll back
            session.rollback()
            sent = _remind_chunk(session, settings, due, chunk, moment, report)
            session.commit()
        report.reminders_sent += sent
        done += len(chunk)
        if progress:
            progress("reminders", done, len(ids))


def _remind_chunk(session: Session, settings: Any, due: date, chunk: Sequence[int], moment: datetime,
                  report: LifecycleReport) -> int:
    # the candidate query again, so a chunk that is redone after a clash skips what was sent meanwhile
    eligible = set(session.scalars(_reminder_candidates(due).where(Registrant.id.in_(chunk))))
    sent = 0
    for registrant in session.scalars(sa.select(Registrant).where(Registrant.id.in_(eligible))
                                      .order_by(Registrant.id)):
        subject, body = reminder_mail(settings, registrant, due)
        try:
            enqueue(session, to=registrant.email, subject=subject, body=body, category=MAIL_CATEGORY,
                    registrant_id=registrant.id)
        except ValueError:
            report.errors.append(f"registrant:{registrant.id}: unusable mail address")
            continue
        session.add(LifecycleNotice(registrant_id=registrant.id, kind=reminder_kind(due),
                                    fiscal_year=fiscal_year(due), sent_at=moment))
        session.flush()
        sent += 1
    return sent


def reminder_mail(settings: Any, registrant: Registrant, due: date) -> tuple[str, str]:
    """Subject and body of the renewal reminder, in the installation's default language."""
    valid_until = fiscal_year_end(due)
    with force_locale(settings.default_locale):
        deadline, extended = format_date(valid_until, "long"), format_date(date(valid_until.year + 1, 3, 31), "long")
        subject = str(_l("【つなぐ】登録の更新のお願い(%(date)sまで)", date=deadline))
        body = str(_l(
            "%(name)s 様\n\n"
            "つなぐにご登録いただき、ありがとうございます。\n"
            "現在のご登録は%(deadline)sまで有効です。引き続き登録を希望される場合は、次のページにログインして"
            "「登録を更新する」ボタンを押してください(ボタンを1回押すだけで完了します)。\n\n"
            "%(link)s\n\n"
            "更新すると、登録の有効期限が%(extended)sまで延長されます。\n"
            "%(deadline)sまでに更新がない場合、翌日から登録は期限切れとなり、お知らせメールやお仕事の紹介が"
            "届かなくなります(期限切れの後も、ログインして更新できます)。\n"
            "パスワードを設定していない方やお忘れの方は、ログイン画面の「パスワードを忘れた方」から設定できます。\n\n"
            "このメールは、お知らせメールの受信に同意された方にお送りしています。\n",
            name=registrant.full_name, deadline=deadline, extended=extended, link=settings.public_url(RENEW_PATH)))
    return subject, body


def expire_registrations(session: Session, today: date, report: LifecycleReport, moment: datetime,
                         actor: Any = audit.SYSTEM, progress: Progress | None = None) -> None:
    """ACTIVE registrations whose validity ended before `today` become EXPIRED."""
    ids = list(session.scalars(sa.select(Registrant.id).where(
        Registrant.status == RegistrantStatus.ACTIVE.value, Registrant.valid_until < today).order_by(Registrant.id)))
    done = 0
    for chunk in _batches(ids):
        for registrant in session.scalars(sa.select(Registrant).where(Registrant.id.in_(chunk))
                                          .order_by(Registrant.id)):
            if registrant.valid_until >= today or not _set_status(
                    session, registrant, RegistrantStatus.ACTIVE, RegistrantStatus.EXPIRED, "fiscal_year_end", moment):
                continue
            audit.record(session, actor, "registrant.expire", f"registrant:{registrant.id}",
                         {"reason": "fiscal_year_end", "valid_until": registrant.valid_until.isoformat(),
                          "day": today.isoformat()})
            report.expired += 1
        session.commit()
        done += len(chunk)
        if progress:
            progress("expire", done, len(ids))


def _set_status(session: Session, registrant: Registrant, expected: RegistrantStatus, status: RegistrantStatus,
                reason: str, moment: datetime) -> bool:
    """Move the registrant from `expected` to `status` with a history row; False if someone else moved it first.

    The same as `app.registrants.records.change_status`, plus two things the daily run needs: a guarded
    UPDATE (a concurrent run on another node waits for the row and then finds nothing to do) and the
    timestamp of the day being processed.
    """
    claimed = session.execute(
        sa.update(Registrant).where(Registrant.id == registrant.id, Registrant.status == expected.value)
        .values(status=status.value, status_changed_at=moment).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        session.refresh(registrant)
        return False
    session.add(StatusChange(registrant_id=registrant.id, from_status=expected.value, to_status=status.value,
                             reason=reason, changed_at=moment))
    # the row already holds these values: tell the session without issuing a second UPDATE
    set_committed_value(registrant, "status", status.value)
    set_committed_value(registrant, "status_changed_at", moment)
    return True


def anonymise_expired(session: Session, settings: Any, today: date, report: LifecycleReport, moment: datetime,
                      actor: Any = audit.SYSTEM, progress: Progress | None = None) -> None:
    """EXPIRED or WITHDRAWN for more than `retention_days` days -> anonymised.

    A status date missing on old rows falls back to `updated_at` (later, so never earlier than due).
    """
    threshold = tokyo_day_start_utc(today - timedelta(days=settings.retention_days))
    since = sa.func.coalesce(Registrant.status_changed_at, Registrant.updated_at)
    ids = list(session.scalars(sa.select(Registrant.id).where(
        Registrant.status.in_([RegistrantStatus.EXPIRED.value, RegistrantStatus.WITHDRAWN.value]),
        since < threshold).order_by(Registrant.id)))
    done = 0
    for chunk in _batches(ids):
        for registrant in session.scalars(sa.select(Registrant).where(Registrant.id.in_(chunk))
                                          .order_by(Registrant.id)):
            if anonymise(session, registrant, moment, actor, retention_days=settings.retention_days):
                report.anonymised += 1
        session.commit()
        done += len(chunk)
        if progress:
            progress("anonymise", done, len(ids))


def purge_source_copies(session: Session, settings: Any, today: date, report: LifecycleReport) -> None:
    """Delete the copies of source records that sync and import set aside, once they are no longer needed.

    Quarantined records and duplicate candidates hold a whole incoming record (personal data). They go when
    settled for longer than `retention_days` (resolved, merged or dismissed; or quarantined and no longer sent
    by the source), and at once when they point at a registrant who has been anonymised.
    """
    threshold = tokyo_day_start_utc(today - timedelta(days=settings.retention_days))
    bulk = {"synchronize_session": False}
    quarantined = session.execute(sa.delete(QuarantinedRecord).where(sa.or_(
        QuarantinedRecord.resolved_at < threshold, QuarantinedRecord.last_seen_at < threshold)),
        execution_options=bulk).rowcount
    anonymised = sa.select(Registrant.id).where(Registrant.status == RegistrantStatus.ANONYMISED.value)
    candidates = session.execute(sa.delete(DuplicateCandidate).where(sa.or_(
        sa.and_(DuplicateCandidate.status != "open", DuplicateCandidate.resolved_at < threshold),
        DuplicateCandidate.registrant_id.in_(anonymised))), execution_options=bulk).rowcount
    report.source_copies_purged = (quarantined or 0) + (candidates or 0)
    session.commit()


def anonymise(session: Session, registrant: Registrant, moment: datetime, actor: Any = audit.SYSTEM,
              retention_days: int | None = None) -> bool:
    """Erase a registrant's personal data for good; the row stays for statistics.

    - names become 匿名化済 / トクメイ (given names empty); the search and duplicate keys are emptied;
    - the e-mail becomes `anonymised-<id>@invalid` (unique, and `.invalid` can never be delivered);
    - birth date, phone, postal code, address, availability, former department, year of leaving,
      career, interests, the source record id and hash, the password and login state are set to NULL;
    - login sessions and one-time links are deleted; queued mail to them is cancelled, and the address
      and text of their past mail in the outbox are erased (the outbox row stays as send history);
    - their free-text survey answers are erased (choices and ratings stay, unlinked from any name);
    - kept: region and code-master entries (licences, subjects, job types, school types), source,
      referral, dates of registration, validity, renewal and status changes, consent flags, and the
      consent and status history (which hold no personal data) — enough for aggregate statistics.
    """
    before = registrant.status
    if before not in {RegistrantStatus.EXPIRED.value, RegistrantStatus.WITHDRAWN.value}:
        return False
    if not _set_status(session, registrant, RegistrantStatus(before), RegistrantStatus.ANONYMISED,
                       "retention_period_ended", moment):
        return False
    placeholder = f"anonymised-{registrant.id}@invalid"
    registrant.family_name, registrant.given_name = ANONYMISED_NAME, ""
    registrant.family_name_kana, registrant.given_name_kana = ANONYMISED_KANA, ""
    registrant.name_key = registrant.search_text = ""
    registrant.email = placeholder
    for name in ERASED_FIELDS:
        setattr(registrant, name, None)
    registrant.failed_login_count = 0
    # bulk statements: no in-session synchronisation (it would scan every object the session holds)
    bulk = {"synchronize_session": False}
    session.execute(sa.delete(LoginSession).where(LoginSession.account_kind == "registrant",
                                                  LoginSession.account_id == registrant.id), execution_options=bulk)
    session.execute(sa.delete(AccountToken).where(AccountToken.account_kind == "registrant",
                                                  AccountToken.account_id == registrant.id), execution_options=bulk)
    session.execute(sa.update(OutboxMessage).where(
        OutboxMessage.registrant_id == registrant.id,
        OutboxMessage.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value]))
        .values(status=OutboxStatus.FAILED.value, last_error="cancelled: registrant anonymised"),
        execution_options=bulk)
    session.execute(sa.update(OutboxMessage).where(OutboxMessage.registrant_id == registrant.id)
                    .values(to_address=placeholder, body_text=""), execution_options=bulk)
    session.execute(sa.update(SurveyAnswer).where(SurveyAnswer.response_id.in_(
        sa.select(SurveyResponse.id).where(SurveyResponse.registrant_id == registrant.id)))
        .values(text=None), execution_options=bulk)
    detail: dict[str, Any] = {"from_status": before, "reason": "retention_period_ended"}
    if retention_days is not None:
        detail["retention_days"] = retention_days
    audit.record(session, actor, "registrant.anonymise", f"registrant:{registrant.id}", detail)
    return True


# --- renewal by the registrant ------------------------------------------------------------------------

class RenewalState(enum.StrEnum):
    NOT_OPEN = "not_open"  # active, but the renewal season has not started
    OPEN = "open"  # active and not yet renewed: renewing extends to the next fiscal year's end
    LAPSED = "lapsed"  # expired (or past its validity): renewing makes it active until this fiscal year's end
    RENEWED = "renewed"  # already valid beyond this fiscal year
    UNAVAILABLE = "unavailable"  # pending, withdrawn or anonymised: nothing to renew


@dataclass(frozen=True)
class RenewalOffer:
    state: RenewalState
    valid_until: date
    new_valid_until: date | None
    opens_on: date

    @property
    def can_renew(self) -> bool:
        return self.state in {RenewalState.OPEN, RenewalState.LAPSED}

    @property
    def in_season(self) -> bool:
        """Whether the portal shows the renewal box (season open, lapsed, or renewed this season)."""
        return self.can_renew or self.state is RenewalState.RENEWED


def renewal_offer(settings: Any, registrant: Registrant, today: date) -> RenewalOffer:
    this_end = fiscal_year_end(today)
    opens_on = renewal_window_start(settings, today)
    valid_until = registrant.valid_until
    status = registrant.status
    if status not in {RegistrantStatus.ACTIVE.value, RegistrantStatus.EXPIRED.value}:
        return RenewalOffer(RenewalState.UNAVAILABLE, valid_until, None, opens_on)
    if status == RegistrantStatus.EXPIRED.value or valid_until < today:
        return RenewalOffer(RenewalState.LAPSED, valid_until, this_end, opens_on)
    if valid_until > this_end:
        state = RenewalState.RENEWED if today >= opens_on else RenewalState.NOT_OPEN
        return RenewalOffer(state, valid_until, None, opens_on)
    if today < opens_on:
        return RenewalOffer(RenewalState.NOT_OPEN, valid_until, None, opens_on)
    return RenewalOffer(RenewalState.OPEN, valid_until, date(this_end.year + 1, 3, 31), opens_on)


class RenewalRefused(Exception):
    """Renewal is not possible now (see the offer's state)."""


def renew(session: Session, settings: Any, registrant: Registrant, today: date, actor: Any,
          client_ip: str | None = None) -> date:
    """Extend the registration (one click in the portal); returns the new `valid_until`. Commits.

    A second submission of the same form finds the registration already renewed and changes nothing.
    """
    offer = renewal_offer(settings, registrant, today)
    if not offer.can_renew or offer.new_valid_until is None:
        if offer.state is RenewalState.RENEWED:
            return registrant.valid_until
        raise RenewalRefused(offer.state.value)
    now = utcnow()
    before_status, before_until = registrant.status, registrant.valid_until
    values: dict[str, Any] = {"valid_until": offer.new_valid_until, "renewed_at": now}
    if before_status != RegistrantStatus.ACTIVE.value:
        values |= {"status": RegistrantStatus.ACTIVE.value, "status_changed_at": now}
    claimed = session.execute(
        sa.update(Registrant).where(Registrant.id == registrant.id, Registrant.status == before_status,
                                    Registrant.valid_until == before_until)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:  # a concurrent click won
        session.rollback()
        session.refresh(registrant)
        return registrant.valid_until
    # a renewal is kept in the status history even when the status stays active (the hand-over carries it)
    session.add(StatusChange(registrant_id=registrant.id, from_status=before_status,
                             to_status=RegistrantStatus.ACTIVE.value, reason="renewed", changed_at=now))
    audit.record(session, actor, "registrant.renew", f"registrant:{registrant.id}",
                 {"from_status": before_status, "valid_until_before": before_until.isoformat(),
                  "valid_until": offer.new_valid_until.isoformat()}, client_ip)
    session.commit()
    session.refresh(registrant)
    return registrant.valid_until


# --- figures for the admin page ---------------------------------------------------------------------

def counts_by_fiscal_year(session: Session) -> list[tuple[int, dict[str, int]]]:
    """(fiscal year the registration is valid for, {status: count}) for every fiscal year present."""
    rows = session.execute(sa.select(Registrant.valid_until, Registrant.status, sa.func.count())
                           .group_by(Registrant.valid_until, Registrant.status))
    table: dict[int, dict[str, int]] = defaultdict(lambda: {status.value: 0 for status in RegistrantStatus})
    for valid_until, status, count in rows:
        table[fiscal_year(valid_until)][status] = table[fiscal_year(valid_until)].get(status, 0) + count
    return sorted(table.items())


def last_run(session: Session) -> tuple[AuditEvent, dict[str, Any]] | None:
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == RUN_ACTION)
                           .order_by(AuditEvent.seq.desc()).limit(1))
    if event is None:
        return None
    try:
        detail = json.loads(event.detail)
    except ValueError:
        detail = {}
    return event, detail
