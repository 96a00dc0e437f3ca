"""New-posting notices (S-A12/A13 "Notify"): tell opted-in registrants about open postings that fit them.

`flask mail posting-notices` (hourly, tsunagu-posting-notices.timer) takes the postings that are due: open,
in their publish window, shown in the portal and not yet notified (`notified_at` NULL). A registrant is
told about a due posting when they fit it (the matching engine's hard filter, `fits`), consent to mail,
opted in (`posting_notice_opt_in`), their address is not suppressed, and there is no PostingNotice row
for the pair yet.

The mail is batched per registrant: one run sends each registrant ONE mail listing every due posting that
fits them (nobody gets a pile of mails when many postings open at once, e.g. after a first import), and
nobody is told about the same posting twice (the PostingNotice row, unique per pair).

A run, and why it is safe to kill and run again:
1. The reachable registrants who pass the posting-independent hard filters (about a quarter of all
   registrants) and the due postings are copied once into temporary tables of the run's own connection
   (app.matching.services.make_fit_pool). Then, a slice of those registrants at a time in id order, one
   INSERT…SELECT matches the slice against every due posting (`pool_fits`, the same rules as `fits`), writes
   the PostingNotice rows (the database does the work: nothing per recipient comes to Python) and commits.
   Slices in registrant order keep the inserts into the notice indexes local (per posting, one place
   growing), which matters more than anything else once the notices outgrow the database's cache.
2. Registrants are walked in id order in chunks. A chunk's notices still to mail are those of the due
   postings with no posting_notice mail to the registrant queued at or after the notice; the database
   counts them per registrant and returns only the first LISTED (read from the covering index
   ix_job_posting_notice_registrant, not the table). Per chunk the outbox rows are inserted with
   executemany and committed; the chunk's registrant rows are locked first (SELECT … FOR UPDATE), so a
   second run at the same time waits and then finds them mailed.
3. Only then is `notified_at` set on the due postings. A run killed at any point leaves whole postings
   (step 1) or whole chunks (step 2); the next run takes the same postings again, adds no notice twice,
   and mails exactly the notices that have no mail yet. Memory: one chunk of mail at a time.
Each run is one MailCampaign (send history, List-Unsubscribe headers, staff can cancel it), one
output-history entry (kind MAIL) and one audit event with counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app import audit
from app.core.timeutil import tokyo_today, utcnow
from app.mail import compose
from app.mail.models import CampaignStatus, MailCampaign, OutboxMessage, OutboxStatus
from app.mail.services import SUBJECT_MAX, header_safe, is_address, mail_domain, new_message_id
from app.mail.unsubscribe import unsubscribe_url
from app.matching.services import FitPool, PostingFacts
from app.postings.models import JobPosting, PostingNotice
from app.registrants.models import Registrant

CATEGORY = "posting_notice"
REGISTRANT_CHUNK = 500  # registrants per transaction: at most LISTED notices each come to Python
PAIR_BUDGET = 200_000  # (posting, registrant) pairs weighed per INSERT…SELECT of step 1
LISTED = 20  # postings described in full in one mail; any more are counted and linked
TITLE = _l("新着求人のお知らせ")
SENDER_NAME = _l("自動送信(新着求人のお知らせ)")
PREFERENCES_PATH = "/me/preferences"
PORTAL_LIST_PATH = "/postings/"
Progress = Callable[[str, int, int], None]  # (step, done, total): step "notices" then "registrants"
log = logging.getLogger("tsunagu.mail")


@dataclass
class NoticeReport:
    dry_run: bool = False
    postings: int = 0  # due postings looked at
    notified: int = 0  # postings finished (notified_at set)
    notices: int = 0  # (posting, registrant) pairs told (in a dry run: that would be)
    queued: int = 0  # mails queued
    skipped_addresses: int = 0  # recipients whose stored address is not usable
    contended: int = 0  # postings left for the next run because another run was notifying them too

    def as_detail(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "postings": self.postings, "notified": self.notified,
                "notices": self.notices, "queued": self.queued, "skipped_addresses": self.skipped_addresses,
                "contended": self.contended}


# --- who and what -----------------------------------------------------------------------------------------

def due_postings(now: datetime) -> sa.Select[Any]:
    """Ids of postings to notify: open, in the publish window, shown in the portal, not yet notified."""
    from app.postings.services import open_postings_statement

    due = open_postings_statement(now).where(JobPosting.notified_at.is_(None),
                                              JobPosting.show_in_portal.is_(True)).subquery()
    return sa.select(due.c.id).order_by(due.c.id)


def reachable() -> Any:
    """Registrants who may get a notice at all: active, consenting, not suppressed, opted in."""
    return sa.and_(compose.eligible(), Registrant.posting_notice_opt_in.is_(True))


def new_recipients(pool: FitPool, after: int, upto: int) -> sa.Select[Any]:
    """(posting_id, registrant_id) to tell, for the pool's registrants in (after, upto]: they fit the due
    posting, may get a notice (the pool holds only those who may), and were not told about it yet."""
    from app.matching.services import pool_fits

    member, posting = pool.members.c.registrant_id, pool.postings.c.posting_id
    told = sa.exists().where(PostingNotice.posting_id == posting, PostingNotice.registrant_id == member)
    return pool_fits(pool).where(member > after, member <= upto, ~told)


def _unmailed(posting_ids: list[int], registrant_ids: list[int]) -> sa.Select[Any]:
    """(registrant_id, posting_id, total): of each registrant's notices about the due postings with no notice
    mail queued since the notice was made, the first LISTED by posting id, and how many there are."""
    last_mail = (sa.select(OutboxMessage.registrant_id, sa.func.max(OutboxMessage.created_at).label("at"))
                 .where(OutboxMessage.registrant_id.in_(registrant_ids), OutboxMessage.category == CATEGORY)
                 .group_by(OutboxMessage.registrant_id).subquery())
    by_registrant = {"partition_by": PostingNotice.registrant_id}
    unmailed = (sa.select(PostingNotice.registrant_id, PostingNotice.posting_id,
                          sa.func.row_number().over(**by_registrant, order_by=PostingNotice.posting_id).label("rank"),
                          sa.func.count().over(**by_registrant).label("total"))
                .outerjoin(last_mail, last_mail.c.registrant_id == PostingNotice.registrant_id)
                .where(PostingNotice.registrant_id.in_(registrant_ids), PostingNotice.posting_id.in_(posting_ids),
                       sa.or_(last_mail.c.at.is_(None), PostingNotice.created_at > last_mail.c.at)))
    for dialect in ("mysql", "mariadb"):  # a long id list otherwise makes MariaDB read every notice of each posting
        unmailed = unmailed.with_hint(PostingNotice, "FORCE INDEX (ix_job_posting_notice_registrant)",
                                      dialect_name=dialect)
    listed = unmailed.subquery()
    return (sa.select(listed.c.registrant_id, listed.c.posting_id, listed.c.total).where(listed.c.rank <= LISTED)
            .order_by(listed.c.registrant_id, listed.c.posting_id))


# --- the mail -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    title: str
    text: str


def posting_summary(settings: Any, posting: JobPosting) -> Summary:
    """The block describing one posting in the mail (the same for every recipient)."""
    values = compose.posting_values(settings, posting)
    # labels bound outside the f-strings: the message extractor does not look inside f-strings
    school, job, openings, period = _l("学校"), _l("職種"), _l("募集人数"), _l("勤務期間")
    hours, contact = _l("勤務日時"), _l("問い合わせ先")
    lines = [f"■ {values['求人名']}",
             f"  {school}: {values['学校名']}({values['校種']}・{values['勤務地']})",
             f"  {job}: {values['職種']} / {openings}: {values['募集人数']}",
             f"  {period}: {values['勤務期間']}"]
    if values["勤務日時"]:
        lines.append(f"  {hours}: {values['勤務日時']}")
    if values["問い合わせ先"]:
        lines.append(f"  {contact}: {values['問い合わせ先']}")
    if settings.portal_show_postings:  # with the portal list switched off, a link would only give 404
        lines.append(f"  {values['求人URL']}")
    return Summary(posting.title, "\n".join(lines))


def render_notice(settings: Any, row: Any, summaries: list[Summary], total: int | None = None) -> tuple[str, str]:
    """(subject, body) of one registrant's mail about `total` postings (default: len(summaries)), of which
    `summaries` (at least one) are the first; LISTED of them are described."""
    total = len(summaries) if total is None else total
    if total == 1:
        subject = str(_l("【つなぐ】%(title)s: %(posting)s", title=TITLE, posting=summaries[0].title))
        intro = _l("ご登録の内容に合う新しい求人が掲載されました。")
    else:
        subject = str(_l("【つなぐ】新着求人のお知らせ(%(n)d件)", n=total))
        intro = _l("ご登録の内容に合う新しい求人が %(n)d 件掲載されました。", n=total)
    parts = [_l("%(name)s 様", name=f"{row.family_name} {row.given_name}"), "", str(intro), ""]
    parts += [summary.text + "\n" for summary in summaries[:LISTED]]
    if total > LISTED:
        parts.append(str(_l("ほかに %(n)d 件あります。", n=total - LISTED)))
    if settings.portal_show_postings:
        parts.append(str(_l("詳しくは登録者ページの求人一覧をご覧ください(ログインが必要です)。")))
        parts.append(settings.public_url(PORTAL_LIST_PATH))
    parts += ["", str(_l("このメールは、条件に合う新着求人のお知らせを希望された方にお送りしています。\n"
                         "新着求人のお知らせだけを止めるには、次のページで設定を変更してください。")),
              settings.public_url(PREFERENCES_PATH)]
    body = "\n".join(str(part) for part in parts)
    return header_safe(subject, SUBJECT_MAX), body + compose.footer(unsubscribe_url(settings, row.id))


# --- the run ------------------------------------------------------------------------------------------------

@dataclass
class _Run:
    settings: Any
    now: datetime
    report: NoticeReport
    posting_ids: list[int]
    summaries: dict[int, Summary]
    campaign_id: int | None = None


def run_notices(session: Session, settings: Any, *, now: datetime | None = None, dry_run: bool = False,
                actor: Any = audit.SYSTEM, progress: Progress | None = None) -> NoticeReport:
    """Tell the opted-in registrants about every due posting. Commits as it goes; safe to run again."""
    now = _run_time(session, now or utcnow())
    report = NoticeReport(dry_run=dry_run)
    posting_ids = list(session.scalars(due_postings(now)))
    if not posting_ids:
        return report
    report.postings = len(posting_ids)
    summaries, facts = _postings(session, settings, posting_ids)
    with _reachable_pool(session, facts) as (connection, pool):
        _add_all_notices(connection, pool, now, report, dry_run, progress)
    if dry_run:
        return report
    run = _Run(settings, now, report, posting_ids, summaries)
    _mail_notices(session, run, progress)
    if not report.contended:
        report.notified = session.execute(
            sa.update(JobPosting).where(JobPosting.id.in_(posting_ids), JobPosting.notified_at.is_(None))
            .values(notified_at=now).execution_options(synchronize_session=False)).rowcount or 0
    _record_run(session, actor, run)
    session.commit()
    return report


def _run_time(session: Session, now: datetime) -> datetime:
    """The run's timestamp, in whole seconds (as MariaDB stores it) and later than the previous run's mail:
    a notice made now must never look older than, hence covered by, a mail queued by an earlier run."""
    now = now.replace(microsecond=0)
    previous = session.scalar(sa.select(sa.func.max(MailCampaign.created_at))
                              .where(MailCampaign.audience.like('{"posting_notices":%')))
    return max(now, previous.replace(microsecond=0) + timedelta(seconds=1)) if previous else now


def _postings(session: Session, settings: Any, posting_ids: list[int]) -> tuple[dict[int, Summary],
                                                                                  dict[int, PostingFacts]]:
    """Each due posting's mail block and matching facts (small: a few lines and code ids per posting)."""
    from app.matching.services import many_posting_facts

    summaries, facts = {}, {}
    for start in range(0, len(posting_ids), 200):
        postings = list(session.scalars(sa.select(JobPosting).where(JobPosting.id.in_(posting_ids[start:start + 200]))))
        facts.update(many_posting_facts(session, postings))
        summaries.update((posting.id, posting_summary(settings, posting)) for posting in postings)
        session.expunge_all()
    return summaries, facts


@contextmanager
def _reachable_pool(session: Session, facts: dict[int, PostingFacts]) -> Iterator[tuple[sa.Connection, FitPool]]:
    """A connection of its own holding the snapshot of reachable registrants and due postings (temporary
    tables live as long as their connection, and the session may change connections between commits)."""
    from app.matching.services import drop_fit_pool, make_fit_pool, region_code_ids

    region_ids = region_code_ids(session)
    session.commit()  # step 1 writes through its own connection
    with session.get_bind().connect() as connection:
        pool = make_fit_pool(connection, facts.values(), region_ids, tokyo_today(), reachable(),
                             name="posting_notice_pool")
        connection.commit()
        try:
            yield connection, pool
        finally:
            connection.rollback()
            drop_fit_pool(connection, pool)
            connection.commit()


def _add_all_notices(connection: sa.Connection, pool: FitPool, now: datetime, report: NoticeReport, dry_run: bool,
                     progress: Progress | None) -> None:
    """Step 1: the pool's registrants in id order, as many per statement as PAIR_BUDGET allows."""
    member = pool.members.c.registrant_id
    total = connection.scalar(sa.select(sa.func.count()).select_from(pool.members)) or 0
    size, last, done = max(1, PAIR_BUDGET // max(report.postings, 1)), 0, 0
    while True:
        page = sa.select(member).where(member > last).order_by(member).limit(size).subquery()
        upto, count = connection.execute(sa.select(sa.func.max(page.c.registrant_id), sa.func.count())).one()
        if not count:
            break
        _add_notices(connection, pool, last, upto, now, report, dry_run)
        last, done = upto, done + count
        if progress:
            progress("notices", done, total)


def _add_notices(connection: sa.Connection, pool: FitPool, after: int, upto: int, now: datetime,
                 report: NoticeReport, dry_run: bool) -> None:
    """Step 1 for the pool's registrants in (after, upto]: their PostingNotice rows for every due posting in
    one INSERT…SELECT (a dry run only counts them)."""
    pairs = new_recipients(pool, after, upto)
    if dry_run:
        report.notices += connection.scalar(sa.select(sa.func.count()).select_from(pairs.subquery())) or 0
        return
    try:
        added = connection.execute(sa.insert(PostingNotice).from_select(
            ["posting_id", "registrant_id", "created_at"], pairs.add_columns(sa.literal(now, sa.DateTime())))
        ).rowcount or 0
        connection.commit()
    except (IntegrityError, OperationalError):  # another run is adding the same notices (or a deadlock)
        connection.rollback()
        report.contended = report.postings  # the slice's notices are missing for any of them: none is finished
        log.warning("posting notices: registrants %s to %s are being notified by another run; left for the next run",
                    after + 1, upto)
        return
    report.notices += added


def _mail_notices(session: Session, run: _Run, progress: Progress | None) -> None:
    """Step 2: one mail per registrant for their notices not mailed yet, chunk by chunk."""
    total = session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(reachable())) or 0
    session.commit()
    size, last, done = REGISTRANT_CHUNK, 0, 0
    while True:
        # the lock makes a concurrent run wait for this chunk, then see its mail as queued
        chunk = list(session.scalars(sa.select(Registrant.id).where(reachable(), Registrant.id > last)
                                     .order_by(Registrant.id).limit(size).with_for_update()))
        if not chunk:
            session.commit()
            break
        _mail_chunk(session, run, chunk)
        last, done = chunk[-1], done + len(chunk)
        if progress:
            progress("registrants", min(done, total), total)


def _mail_chunk(session: Session, run: _Run, registrant_ids: list[int]) -> None:
    by_registrant: dict[int, list[int]] = {}
    totals: dict[int, int] = {}
    for registrant_id, posting_id, total in session.execute(_unmailed(run.posting_ids, registrant_ids)):
        by_registrant.setdefault(registrant_id, []).append(posting_id)
        totals[registrant_id] = total
    if not by_registrant:
        session.commit()
        return
    mails = []
    domain = mail_domain(run.settings.mail_from)
    campaign_id = _campaign_id(session, run)
    for row in compose._recipient_rows(session, sorted(by_registrant)):
        if not is_address(row.email):
            run.report.skipped_addresses += 1
            continue
        summaries = [run.summaries[posting_id] for posting_id in by_registrant[row.id]]
        subject, body = render_notice(run.settings, row, summaries, totals[row.id])
        mails.append({"category": CATEGORY, "registrant_id": row.id, "to_address": row.email, "subject": subject,
                      "body_text": body, "status": OutboxStatus.PENDING.value, "attempts": 0,
                      "not_before": run.now, "created_at": run.now, "message_id": new_message_id(domain),
                      "campaign_id": campaign_id})
    if mails:
        session.execute(sa.insert(OutboxMessage), mails)
        session.execute(sa.update(MailCampaign).where(MailCampaign.id == campaign_id)
                        .values(recipient_count=MailCampaign.recipient_count + len(mails))
                        .execution_options(synchronize_session=False))
    session.commit()
    run.report.queued += len(mails)


def _campaign_id(session: Session, run: _Run) -> int:
    """This run's MailCampaign, made with the first mail (flushed inside the chunk's transaction)."""
    if run.campaign_id is None:
        campaign = MailCampaign(
            subject_template=str(TITLE), body_template=str(_l("(条件に合う新着求人の一覧。登録者ごとに作成)")),
            audience=json.dumps({"posting_notices": run.posting_ids}), status=CampaignStatus.QUEUED.value,
            scheduled_at=run.now, created_by_id=None, created_by_name=str(SENDER_NAME)[:120], created_at=run.now)
        session.add(campaign)
        session.flush()
        run.campaign_id = campaign.id
    return run.campaign_id


def _record_run(session: Session, actor: Any, run: _Run) -> None:
    """One output-history entry per run (kind MAIL) and one audit event with the counts."""
    from app.outputs.models import OutputKind
    from app.outputs.services import record_output

    report = run.report
    record_output(session, actor, kind=OutputKind.MAIL, title=str(TITLE),
                  filters={"posting_notices": run.posting_ids, "mail_campaign_id": run.campaign_id},
                  row_count=report.queued, filename=None, sha256=None, ip=None)
    audit.record(session, actor, "mail.posting_notices", f"mail_campaign:{run.campaign_id or '-'}",
                 report.as_detail())
