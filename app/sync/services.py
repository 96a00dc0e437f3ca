"""The e-application sync (S1): one run, the lock that keeps it single, and staff decisions on duplicates.

A run:
1. takes the lease lock in `sync_state` (an atomic UPDATE ... WHERE the lock is free or expired; the row is
   inserted on the very first run). A lock whose owner is a dead process on this host is taken over at
   once; a lock held by another node is respected until its lease expires. The lease is extended after
   every page (heartbeat) and released at the end, also when the run fails;
2. records a `SyncRun` (running) and commits it, marking runs a killed process left `running` as failed;
3. fetches pages from the cursor (`updated_since` >= the largest `updated_at` stored) and applies each
   record with the shared `apply_record`: one transaction per page, in which the records, the run's
   counts, the new cursor and the lock heartbeat commit together — so the cursor can never be ahead of
   the records it covers, and a page that is fetched twice (at a boundary, or after a crash) is
   harmless because applying is idempotent;
4. ends `succeeded` or `failed` (with the reason) and writes one audit record.

Missing records delete nothing; a withdrawn record withdraws its registrant (`apply_record` does that).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import to_tokyo, utcnow
from app.registrants.accounts import send_invitation
from app.registrants.models import Registrant, RegistrantSource, RegistrantStatus
from app.registrants.records import ApplyContext, CodeBook, IncomingRecord, Outcome, apply_record, preload
from app.sync.connector import (
    ApiClient,
    FieldMap,
    RecordFormatError,
    SyncApiError,
    format_timestamp,
    load_field_map,
    parse_timestamp,
)
from app.sync.models import DuplicateCandidate, QuarantinedRecord, RunStatus, SyncRun, SyncState

log = logging.getLogger("tsunagu.sync")
SOURCE = RegistrantSource.E_APPLICATION.value
COUNTS = ("fetched", "created", "updated", "unchanged", "quarantined", "duplicates", "failed")


class SyncError(Exception):
    """A run could not start; the message is for staff and operators."""


class SyncNotConfigured(SyncError):
    pass


class SyncAlreadyRunning(SyncError):
    def __init__(self, owner: str | None, expires_at: datetime | None) -> None:
        until = to_tokyo(expires_at).strftime("%Y-%m-%d %H:%M") if expires_at else "-"
        super().__init__(str(_l("別の同期が実行中です(%(owner)s、ロックの期限 %(until)s)。終わってから実行してください。",
                                owner=owner or "-", until=until)))
        self.owner, self.expires_at = owner, expires_at


class LockLost(Exception):
    """Another process took the lock (our lease ran out): stop before writing anything more."""


@dataclass
class PageReport:
    number: int
    cursor: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))


# --- the lease lock ------------------------------------------------------------------------------------------

def lock_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:120]


def _owner_is_dead_here(owner: str | None) -> bool:
    """True when the lock belongs to a process on this host that no longer exists (killed, crashed)."""
    host, _, rest = (owner or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def acquire_lock(session: Session, owner: str, now: datetime, lease: timedelta, source: str = SOURCE) -> None:
    """Take the lock or raise SyncAlreadyRunning. Commits."""
    session.rollback()  # a fresh transaction sees the latest committed lock
    for _attempt in range(3):
        free = sa.or_(SyncState.lock_owner.is_(None), SyncState.lock_expires_at < now)
        taken = session.execute(sa.update(SyncState).where(SyncState.source == source, free)
                                .values(lock_owner=owner, lock_expires_at=now + lease)).rowcount
        if taken == 1:
            session.commit()
            return
        state = session.get(SyncState, source, populate_existing=True)
        if state is None:
            try:
                session.add(SyncState(source=source, lock_owner=owner, lock_expires_at=now + lease))
                session.commit()
                return
            except IntegrityError:  # another process inserted it first: go round and try the UPDATE
                session.rollback()
                continue
        if _owner_is_dead_here(state.lock_owner):
            stale = state.lock_owner
            taken = session.execute(sa.update(SyncState).where(SyncState.source == source,
                                                               SyncState.lock_owner == stale)
                                    .values(lock_owner=owner, lock_expires_at=now + lease)).rowcount
            if taken == 1:
                log.warning("sync lock of a dead process (%s) taken over", stale)
                session.commit()
                return
            session.rollback()
            continue
        owner_now, expires = state.lock_owner, state.lock_expires_at
        session.rollback()
        raise SyncAlreadyRunning(owner_now, expires)
    raise SyncAlreadyRunning(None, None)


def _heartbeat(session: Session, owner: str, until: datetime, cursor: str | None, source: str = SOURCE) -> None:
    """Extend the lease (and move the cursor) in the caller's transaction; LockLost if it is not ours any more."""
    values: dict[str, Any] = {"lock_expires_at": until}
    if cursor is not None:
        values["cursor"] = cursor
    mine = session.execute(sa.update(SyncState).where(SyncState.source == source, SyncState.lock_owner == owner)
                           .values(**values)).rowcount
    if mine != 1:
        raise LockLost()


def release_lock(session: Session, owner: str, source: str = SOURCE) -> None:
    session.execute(sa.update(SyncState).where(SyncState.source == source, SyncState.lock_owner == owner)
                    .values(lock_owner=None, lock_expires_at=None))
    session.commit()


# --- one run -------------------------------------------------------------------------------------------------

def make_client(settings: Any, on_retry: Callable[[int, float, str], Any] | None = None) -> ApiClient:
    if not settings.sync_api_url:
        raise SyncNotConfigured(str(_l("電子申請システムの接続先(sync_api_url)が設定されていません")))
    try:
        return ApiClient(settings.sync_api_url, settings.sync_api_token, page_size=settings.sync_page_size,
                         timeout=settings.sync_timeout_seconds, max_retries=settings.sync_max_retries,
                         on_retry=on_retry)
    except SyncApiError as exc:
        raise SyncNotConfigured(str(exc)) from None


def run_sync(session: Session, settings: Any, trigger: str, now: datetime | None = None, *,
             client: ApiClient | None = None, field_map: FieldMap | None = None,
             progress: Callable[[PageReport], Any] | None = None, requested_by: int | None = None,
             on_retry: Callable[[int, float, str], Any] | None = None) -> SyncRun:
    """Run one sync and return its SyncRun (succeeded or failed).

    Raises SyncNotConfigured before anything is written when the API or the field map is not usable,
    and SyncAlreadyRunning when another run holds the lock (no SyncRun is left behind then).
    """
    client = client or make_client(settings, on_retry)
    if field_map is None:
        try:
            field_map = load_field_map(settings.sync_field_map or None)
        except Exception as exc:
            raise SyncNotConfigured(str(exc)) from None
    started = utcnow()
    clock: Callable[[], datetime] = (lambda: now + (utcnow() - started)) if now else utcnow
    lease = timedelta(minutes=settings.sync_lock_minutes)
    owner = lock_owner_id()
    acquire_lock(session, owner, clock(), lease)
    try:
        _close_interrupted_runs(session, clock())
        state = session.get(SyncState, SOURCE, populate_existing=True)
        cursor = state.cursor if state else None
        run = SyncRun(source=SOURCE, trigger=trigger[:16], status=RunStatus.RUNNING.value, started_at=clock(),
                      cursor_before=cursor, cursor_after=cursor, node=owner)
        session.add(run)
        session.commit()
    except BaseException:
        session.rollback()
        release_lock(session, owner)
        raise
    error: str | None = None
    completed = False
    try:
        _fetch_and_apply(session, settings, run, client, field_map, owner, clock, lease, progress)
        completed = True
    except SyncApiError as exc:
        error = str(exc)
    except LockLost:
        error = str(_l("実行中にロックの期限が切れ、別の同期に引き継がれたため中止しました"
                       "(sync_lock_minutes を長くしてください)"))
    except Exception as exc:
        log.error("sync run %s failed unexpectedly: %s", run.id, _where(exc))
        error = str(_l("予期しないエラーで中止しました(%(kind)s)。ログを確認してください", kind=type(exc).__name__))
    finally:
        session.rollback()  # whatever the page in progress had written is not kept
        if not completed and error is None:  # KeyboardInterrupt, SystemExit (SIGTERM)
            error = str(_l("実行中に停止されました。取り込み済みのページまでは反映されています"))
        try:
            _finish(session, run, error, clock(), requested_by)
        finally:
            release_lock(session, owner)
    return run


def _fetch_and_apply(session: Session, settings: Any, run: SyncRun, client: ApiClient, field_map: FieldMap,
                     owner: str, clock: Callable[[], datetime], lease: timedelta,
                     progress: Callable[[PageReport], Any] | None) -> None:
    run_id, cursor = run.id, run.cursor_before
    codes = CodeBook(session)
    ctx = ApplyContext(session=session, source=SOURCE, codes=codes, today=to_tokyo(clock()).date(), run_id=run_id,
                       on_created=lambda registrant: send_invitation(
                           session, settings, registrant, new_account=True))
    for number, page in enumerate(client.pages(cursor), start=1):
        report = PageReport(number=number, cursor=cursor)
        newest = _apply_page(ctx, field_map, page.records, report)
        if newest is not None and (cursor is None or newest > parse_timestamp(cursor)):
            cursor = format_timestamp(newest)
        report.cursor = cursor
        current = session.get(SyncRun, run_id)
        for name, value in report.counts.items():
            setattr(current, name, getattr(current, name) + value)
        current.cursor_after = cursor
        _heartbeat(session, owner, clock() + lease, cursor)
        session.commit()
        if progress:
            progress(report)


def _apply_page(ctx: ApplyContext, field_map: FieldMap, raw_records: list[Any], report: PageReport) -> datetime | None:
    """Apply one page in the open transaction; returns the newest updated_at on it.

    The fast path applies every record straight away. If one raises, the page is rolled back and applied
    again with a savepoint per record, so the culprit is set aside (failed) and the rest still land.
    """
    incoming: list[IncomingRecord | RecordFormatError] = []
    newest: datetime | None = None
    for raw in raw_records:
        try:
            record = field_map.to_incoming(raw)
        except RecordFormatError as exc:
            incoming.append(exc)
            continue
        incoming.append(record)
        if record.source_updated_at and (newest is None or record.source_updated_at > newest):
            newest = record.source_updated_at
    report.counts["fetched"] = len(raw_records)
    try:
        # the page's existing registrants, open quarantine and dismissals in three queries, not three a record
        ctx.preloaded = preload(ctx.session, ctx.source,
                                [item.record_id for item in incoming if isinstance(item, IncomingRecord)])
        _apply_all(ctx, incoming, raw_records, report.counts, isolate=False)
        ctx.session.flush()  # a conflict in what is still pending shows here, where the page can be redone
    except Exception:
        log.warning("page %d: a record raised; applying the page again record by record", report.number)
        ctx.session.rollback()
        ctx.preloaded = None  # it described the rolled-back attempt
        report.counts.update(dict.fromkeys(COUNTS, 0), fetched=len(raw_records))
        _apply_all(ctx, incoming, raw_records, report.counts, isolate=True)
    finally:
        ctx.preloaded = None
    return newest


def _apply_all(ctx: ApplyContext, incoming: list[Any], raw_records: list[Any], counts: dict[str, int],
               isolate: bool) -> None:
    session = ctx.session
    for item, raw in zip(incoming, raw_records, strict=True):
        if isinstance(item, RecordFormatError):
            _set_aside(ctx, item.record_id, raw, [str(item)])
            counts["quarantined"] += 1
            continue
        if not isolate:
            # Fewer, larger flushes: apply_record flushes what later records query for (a new registrant),
            # and an updated registrant is flushed below, so nothing a later record looks up stays pending.
            with session.no_autoflush:
                outcome = apply_record(ctx, item)
            if outcome is Outcome.UPDATED:
                session.flush()
        else:
            try:
                with session.begin_nested():
                    outcome = apply_record(ctx, item)
            except Exception as exc:
                log.error("record %s could not be applied: %s", item.record_id, _where(exc))
                _set_aside(ctx, item.record_id, item.payload(),
                           [str(_l("処理中にエラーが発生しました(%(kind)s)。システム管理者に連絡してください",
                                   kind=type(exc).__name__))])
                counts["failed"] += 1
                continue
        counts[_COUNTER[outcome]] += 1


def _where(exc: BaseException) -> str:
    """The exception's type and stack, without its message: a database error quotes the row (personal data)."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return type(exc).__name__ + " at " + " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                                      for f in reversed(frames))


_COUNTER = {Outcome.CREATED: "created", Outcome.UPDATED: "updated", Outcome.UNCHANGED: "unchanged",
            Outcome.QUARANTINED: "quarantined", Outcome.DUPLICATE: "duplicates"}


def _set_aside(ctx: ApplyContext, record_id: str | None, payload: Any, reasons: list[str]) -> None:
    """Quarantine a record that apply_record could not take (wrong shape, or it raised)."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, default=str)
    if record_id is None:  # no usable id: key it by its content so a repeat lands on the same row
        record_id = "no-id:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    session = ctx.session
    row = session.scalar(sa.select(QuarantinedRecord).where(QuarantinedRecord.source == ctx.source,
                                                            QuarantinedRecord.record_id == record_id))
    if row is None:
        row = QuarantinedRecord(source=ctx.source, record_id=record_id)
        session.add(row)
    row.payload, row.reasons = text, json.dumps(reasons, ensure_ascii=False)
    row.run_id, row.last_seen_at, row.resolved_at = ctx.run_id, utcnow(), None
    session.flush()


def _close_interrupted_runs(session: Session, now: datetime) -> None:
    """Runs left `running` by a process that died: we hold the lock, so none of them is really running."""
    stale = session.scalars(sa.select(SyncRun).where(SyncRun.source == SOURCE,
                                                     SyncRun.status == RunStatus.RUNNING.value)).all()
    for run in stale:
        run.status, run.finished_at = RunStatus.FAILED.value, now
        run.error = str(_l("実行中にプロセスが停止したため中断されました。取り込み済みのページまでは反映されています"))
        audit.record(session, audit.SYSTEM, "sync.run", f"sync_run:{run.id}", _audit_detail(run, interrupted=True))
    session.commit()


def _finish(session: Session, run: SyncRun, error: str | None, now: datetime, requested_by: int | None) -> None:
    current = session.get(SyncRun, run.id, populate_existing=True)
    assert current is not None
    current.status = RunStatus.FAILED.value if error else RunStatus.SUCCEEDED.value
    current.error = error[:1000] if error else None
    current.finished_at = now
    detail = _audit_detail(current)
    if requested_by is not None:
        detail["requested_by"] = requested_by
    audit.record(session, audit.SYSTEM, "sync.run", f"sync_run:{current.id}", detail)
    session.commit()
    log.info("sync run %s %s: %s", current.id, current.status,
             ", ".join(f"{name}={getattr(current, name)}" for name in COUNTS))


def _audit_detail(run: SyncRun, **extra: Any) -> dict[str, Any]:
    return {"status": run.status, "trigger": run.trigger, **{name: getattr(run, name) for name in COUNTS},
            **extra}


# --- status for the CLI and the admin page --------------------------------------------------------------------

@dataclass(frozen=True)
class SyncOverview:
    cursor: str | None
    lock_owner: str | None
    lock_expires_at: datetime | None
    open_quarantine: int
    open_duplicates: int
    last_run: SyncRun | None


def overview(session: Session) -> SyncOverview:
    state = session.get(SyncState, SOURCE)
    now = utcnow()
    held = state is not None and state.lock_owner and state.lock_expires_at and state.lock_expires_at >= now
    return SyncOverview(
        cursor=state.cursor if state else None,
        lock_owner=state.lock_owner if held and state else None,
        lock_expires_at=state.lock_expires_at if held and state else None,
        open_quarantine=session.scalar(sa.select(sa.func.count()).select_from(QuarantinedRecord).where(
            QuarantinedRecord.source == SOURCE, QuarantinedRecord.resolved_at.is_(None))) or 0,
        open_duplicates=session.scalar(sa.select(sa.func.count()).select_from(DuplicateCandidate).where(
            DuplicateCandidate.source == SOURCE, DuplicateCandidate.status == "open")) or 0,
        last_run=session.scalar(sa.select(SyncRun).where(SyncRun.source == SOURCE)
                                .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(1)),
    )


def recent_runs(session: Session, limit: int = 20) -> list[SyncRun]:
    return list(session.scalars(sa.select(SyncRun).where(SyncRun.source == SOURCE)
                                .order_by(SyncRun.id.desc()).limit(limit)))


def quarantined(session: Session, include_resolved: bool = False, limit: int = 500) -> list[QuarantinedRecord]:
    stmt = sa.select(QuarantinedRecord).where(QuarantinedRecord.source == SOURCE)
    if not include_resolved:
        stmt = stmt.where(QuarantinedRecord.resolved_at.is_(None))
    return list(session.scalars(stmt.order_by(QuarantinedRecord.last_seen_at.desc(), QuarantinedRecord.id.desc())
                                .limit(limit)))


def open_duplicates(session: Session, limit: int = 500) -> list[DuplicateCandidate]:
    return list(session.scalars(sa.select(DuplicateCandidate).where(
        DuplicateCandidate.source == SOURCE, DuplicateCandidate.status == "open")
        .order_by(DuplicateCandidate.created_at, DuplicateCandidate.id).limit(limit)))


# --- duplicate candidates: staff decide ----------------------------------------------------------------------

class DuplicateError(Exception):
    """A merge or dismissal could not be done; the message is for staff."""


def incoming_from_payload(record_id: str, payload: str) -> IncomingRecord:
    """The IncomingRecord a candidate or quarantine row stored (`IncomingRecord.payload()`)."""
    data = json.loads(payload)
    data.pop("record_id", None)
    withdrawn = bool(data.pop("withdrawn", False))
    return IncomingRecord(record_id=record_id, fields=data, withdrawn=withdrawn)


def _open_candidate(session: Session, candidate_id: int) -> DuplicateCandidate:
    candidate = session.get(DuplicateCandidate, candidate_id, with_for_update=True)
    if candidate is None or candidate.source != SOURCE:
        raise DuplicateError(str(_l("重複候補が見つかりません")))
    if candidate.status != "open":
        raise DuplicateError(str(_l("この重複候補はすでに対応済みです")))
    return candidate


def _context(session: Session, settings: Any) -> ApplyContext:
    return ApplyContext(session=session, source=SOURCE, codes=CodeBook(session), today=to_tokyo(utcnow()).date(),
                        on_created=lambda registrant: send_invitation(
                           session, settings, registrant, new_account=True))


def merge_duplicate(session: Session, settings: Any, actor: Any, candidate_id: int, ip: str | None = None) -> Registrant:
    """The existing registrant takes over the incoming record: its id becomes their external_id and the
    record's values are applied to them. Commits; DuplicateError (nothing changed) when it cannot."""
    candidate = _open_candidate(session, candidate_id)
    registrant = session.get(Registrant, candidate.registrant_id)
    if registrant is None or registrant.status == RegistrantStatus.ANONYMISED.value:
        session.rollback()
        raise DuplicateError(str(_l("統合先の登録者がいません(削除または匿名化済み)")))
    taken = session.scalar(sa.select(Registrant.id).where(Registrant.external_id == candidate.record_id))
    if taken is not None and taken != registrant.id:
        session.rollback()
        raise DuplicateError(str(_l("このレコードはすでに別の登録者として取り込まれています")))
    record = incoming_from_payload(candidate.record_id, candidate.payload)
    previous = registrant.external_id
    registrant.external_id, registrant.source_hash = candidate.record_id, None
    session.flush()
    outcome = apply_record(_context(session, settings), record)
    if outcome not in (Outcome.UPDATED, Outcome.UNCHANGED):
        reasons = session.scalar(sa.select(QuarantinedRecord.reasons).where(
            QuarantinedRecord.source == SOURCE, QuarantinedRecord.record_id == candidate.record_id))
        session.rollback()
        detail = "、".join(json.loads(reasons)) if reasons else outcome.value
        raise DuplicateError(str(_l("統合できませんでした: %(reasons)s", reasons=detail)))
    candidate.status, candidate.resolved_at, candidate.resolved_by = "merged", utcnow(), actor.id
    audit.record(session, actor, "sync.duplicate.merge", f"registrant:{registrant.id}",
                 {"candidate": candidate.id, "record_id": candidate.record_id, "reason": candidate.reason,
                  "replaced_external_id": previous is not None and previous != candidate.record_id}, ip)
    session.commit()
    return registrant


def dismiss_duplicate(session: Session, settings: Any, actor: Any, candidate_id: int,
                      ip: str | None = None) -> Outcome | None:
    """Staff say the two are different people. A same-name-and-birth-date record is then applied as a new
    registrant (who gets the invitation); a same-e-mail record cannot be (the e-mail is a login id) and
    waits until the source changes it. Commits; returns the outcome of applying, if it was applied."""
    candidate = _open_candidate(session, candidate_id)
    candidate.status, candidate.resolved_at, candidate.resolved_by = "dismissed", utcnow(), actor.id
    session.flush()
    outcome = None
    if candidate.reason != "same_email":
        outcome = apply_record(_context(session, settings), incoming_from_payload(candidate.record_id,
                                                                                  candidate.payload))
        if candidate.status == "open":  # held again, now because its e-mail is someone else's
            candidate.resolved_at = candidate.resolved_by = None
    audit.record(session, actor, "sync.duplicate.dismiss", f"duplicate_candidate:{candidate.id}",
                 {"record_id": candidate.record_id, "reason": candidate.reason,
                  "applied": outcome.value if outcome else None}, ip)
    session.commit()
    return outcome
