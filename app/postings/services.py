"""Job postings (S-A12): check, save, copy, open and close them; what is open now; search.

Plain functions over an explicit session (no request, no flash), audited but not committed: the caller
commits, so a view, the matching screens ("a hired candidate closes the posting") and tests share them.
Audit details carry ids, statuses and field names only, never the texts of a posting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.codes.models import Code, CodeKind
from app.codes.services import selectable
from app.core.pagination import Page, paginate
from app.core.timeutil import utcnow
from app.postings.models import JobPosting, PostingCodeRole, PostingStatus, posting_code

PER_PAGE = 50
PORTAL_PER_PAGE = 20
TITLE_MAX = 200
SCHOOL_MAX = 100
DAYS_HOURS_MAX = 200
DESCRIPTION_MAX = 4000
CONTACT_MAX = 300
OPENINGS_MAX = 999
CODES_MAX = 50  # per list; far more than any school asks for, a bound against junk posts
COPY_SUFFIX = "(コピー)"
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # plausible dates (and inside every database's range)

STATUS_LABELS = {PostingStatus.DRAFT.value: _l("下書き"), PostingStatus.OPEN.value: _l("募集中"),
                 PostingStatus.FILLED.value: _l("充足"), PostingStatus.CLOSED.value: _l("終了")}
# target status -> the statuses it may be reached from
TRANSITIONS = {
    PostingStatus.OPEN.value: {PostingStatus.DRAFT.value, PostingStatus.CLOSED.value, PostingStatus.FILLED.value},
    PostingStatus.CLOSED.value: {PostingStatus.DRAFT.value, PostingStatus.OPEN.value},
    PostingStatus.FILLED.value: {PostingStatus.OPEN.value, PostingStatus.CLOSED.value},
}
# single code columns: form field -> (kind, model attribute)
SINGLE_CODES = {"school_type": (CodeKind.SCHOOL_TYPE, "school_type_id"), "region": (CodeKind.REGION, "region_id"),
                "job_type": (CodeKind.JOB_TYPE, "job_type_id"),
                "employment_type": (CodeKind.EMPLOYMENT_TYPE, "employment_type_id")}
# code lists in job_posting_code: form field -> (kind, role)
LIST_CODES = {"subjects": (CodeKind.SUBJECT, PostingCodeRole.SUBJECT),
              "required_licences": (CodeKind.LICENCE, PostingCodeRole.REQUIRED_LICENCE),
              "preferred_licences": (CodeKind.LICENCE, PostingCodeRole.PREFERRED_LICENCE)}
TEXT_LIMITS = {"title": TITLE_MAX, "school_name": SCHOOL_MAX, "days_hours": DAYS_HOURS_MAX,
               "description": DESCRIPTION_MAX, "contact": CONTACT_MAX}
REQUIRED_TEXT = ("title", "school_name")
OPTIONAL_CODES = {"employment_type"}
PLAIN_COLUMNS = ("title", "school_name", "period_start", "period_end", "days_hours", "openings", "description",
                 "contact", "publish_from", "publish_until", "show_in_portal")


class PostingInvalid(ValueError):
    """A posting that cannot be saved; `errors` maps form field names to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


class StatusRefused(ValueError):
    """A status change that does not apply; the message is for the user."""


@dataclass
class PostingValues:
    """What staff typed for a posting. Codes are ids (0/None for none); date-times are naive UTC."""

    title: str = ""
    school_name: str = ""
    school_type: int | None = None
    region: int | None = None
    job_type: int | None = None
    employment_type: int | None = None
    subjects: list[int] = field(default_factory=list)
    required_licences: list[int] = field(default_factory=list)
    preferred_licences: list[int] = field(default_factory=list)
    period_start: date | None = None
    period_end: date | None = None
    days_hours: str | None = None
    openings: int | None = 1
    description: str | None = None
    contact: str | None = None
    publish_from: datetime | None = None
    publish_until: datetime | None = None
    show_in_portal: bool = True

    @classmethod
    def of(cls, session: Session, posting: JobPosting) -> PostingValues:
        codes = posting_codes(session, posting)
        values = cls(**{name: getattr(posting, name) for name in PLAIN_COLUMNS})
        for name, (_kind, attribute) in SINGLE_CODES.items():
            setattr(values, name, getattr(posting, attribute))
        for name, (_kind, role) in LIST_CODES.items():
            setattr(values, name, [code.id for code in codes[role]])
        return values


# --- checking -------------------------------------------------------------------------------------

def _dedupe(ids: list[int] | None) -> list[int]:
    return list(dict.fromkeys(code_id for code_id in (ids or []) if code_id))


def check(session: Session, values: PostingValues, posting: JobPosting | None = None) -> dict[str, list[str]]:
    """Every problem of `values`, by field. Codes must be selectable today (valid, enabled); a code the
    posting being edited already has stays acceptable, so editing never forces a retired code out."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: Any) -> None:
        errors.setdefault(name, []).append(str(message))

    for name in REQUIRED_TEXT:
        if not (getattr(values, name) or "").strip():
            add(name, _l("入力してください。"))
    for name, limit in TEXT_LIMITS.items():
        if len(getattr(values, name) or "") > limit:
            add(name, _l("%(n)d文字以内で入力してください。", n=limit))
    kept = kept_code_ids(session, posting)
    for name, (kind, _attribute) in SINGLE_CODES.items():
        code_id = getattr(values, name)
        if not code_id:
            if name not in OPTIONAL_CODES:
                add(name, _l("選択してください。"))
        elif code_id not in _choosable(session, kind, kept):
            add(name, _l("選択できない値です(存在しないか、使用を終了したコードです)。選び直してください。"))
    for name, (kind, _role) in LIST_CODES.items():
        ids = _dedupe(getattr(values, name))
        if len(ids) > CODES_MAX:
            add(name, _l("選べるのは%(n)d件までです。", n=CODES_MAX))
        elif any(code_id not in _choosable(session, kind, kept) for code_id in ids):
            add(name, _l("選択できない値が含まれています(存在しないか、使用を終了したコードです)。選び直してください。"))
    if set(_dedupe(values.required_licences)) & set(_dedupe(values.preferred_licences)):
        add("preferred_licences", _l("必須の免許に選んだ免許は、歓迎する免許に選ばないでください。"))
    _check_period(values, add)
    if values.openings is None:
        add("openings", _l("入力してください。"))
    elif values.openings < 1:
        add("openings", _l("募集人数は1人以上にしてください。"))
    elif values.openings > OPENINGS_MAX:
        add("openings", _l("募集人数は%(n)d人以下にしてください。", n=OPENINGS_MAX))
    for name in ("publish_from", "publish_until"):
        moment = getattr(values, name)
        if moment is not None and not EARLIEST <= moment.date() <= LATEST:
            add(name, _l("日時を確認してください。"))
    if values.publish_from and values.publish_until and values.publish_until <= values.publish_from:
        add("publish_until", _l("掲載終了日時は掲載開始日時より後にしてください。"))
    return errors


def _check_period(values: PostingValues, add: Any) -> None:
    if values.period_start is None:
        add("period_start", _l("入力してください。"))
    for name in ("period_start", "period_end"):
        day = getattr(values, name)
        if day is not None and not EARLIEST <= day <= LATEST:
            add(name, _l("日付を確認してください。"))
    if values.period_start and values.period_end and values.period_end < values.period_start:
        add("period_end", _l("勤務期間の終了日は開始日以降にしてください。"))


def kept_code_ids(session: Session, posting: JobPosting | None) -> set[int]:
    if posting is None or posting.id is None:
        return set()
    kept = {getattr(posting, attribute) for _kind, attribute in SINGLE_CODES.values()}
    kept |= set(session.scalars(sa.select(posting_code.c.code_id).where(posting_code.c.posting_id == posting.id)))
    return {code_id for code_id in kept if code_id}


def _choosable(session: Session, kind: CodeKind, kept: set[int]) -> set[int]:
    return {code.id for code in selectable(session, kind, keep_ids=kept)}


# --- saving ---------------------------------------------------------------------------------------

def save_posting(session: Session, actor: Any, values: PostingValues, posting: JobPosting | None = None,
                 ip: str | None = None) -> JobPosting:
    """Create a draft (posting None) or change an existing posting. Raises PostingInvalid with the
    problems by field and changes nothing then. Audited, not committed."""
    errors = check(session, values, posting)
    if errors:
        raise PostingInvalid(errors)
    if posting is None:
        posting = JobPosting(status=PostingStatus.DRAFT.value, created_by_id=getattr(actor, "id", None))
        _assign(posting, values)
        session.add(posting)
        session.flush()
        _replace_codes(session, posting, values)
        audit.record(session, actor, "posting.create", f"posting:{posting.id}", {"status": posting.status}, ip)
        return posting
    changed = _changed_fields(session, posting, values)
    if changed:
        _assign(posting, values)
        _replace_codes(session, posting, values)
        posting.updated_at = utcnow()
        session.flush()
        audit.record(session, actor, "posting.update", f"posting:{posting.id}", {"changed": changed}, ip)
    return posting


def _clean_text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _assign(posting: JobPosting, values: PostingValues) -> None:
    posting.title, posting.school_name = values.title.strip(), values.school_name.strip()
    for name, (_kind, attribute) in SINGLE_CODES.items():
        setattr(posting, attribute, getattr(values, name) or None)
    posting.period_start, posting.period_end = values.period_start, values.period_end  # type: ignore[assignment]
    posting.days_hours, posting.contact = _clean_text(values.days_hours), _clean_text(values.contact)
    posting.description = _clean_text(values.description)
    posting.openings = values.openings  # type: ignore[assignment]
    posting.publish_from, posting.publish_until = values.publish_from, values.publish_until
    posting.show_in_portal = bool(values.show_in_portal)


def _replace_codes(session: Session, posting: JobPosting, values: PostingValues) -> None:
    session.execute(sa.delete(posting_code).where(posting_code.c.posting_id == posting.id))
    rows = [{"posting_id": posting.id, "code_id": code_id, "role": role.value}
            for name, (_kind, role) in LIST_CODES.items() for code_id in _dedupe(getattr(values, name))]
    if rows:
        session.execute(sa.insert(posting_code), rows)


def _changed_fields(session: Session, posting: JobPosting, values: PostingValues) -> list[str]:
    before = PostingValues.of(session, posting)
    after = PostingValues(**{f.name: getattr(values, f.name) for f in fields(PostingValues)})
    after.title, after.school_name = values.title.strip(), values.school_name.strip()
    for name in ("days_hours", "contact", "description"):
        setattr(after, name, _clean_text(getattr(values, name)))
    changed = []
    for f in fields(PostingValues):
        old, new = getattr(before, f.name), getattr(after, f.name)
        if f.name in LIST_CODES:
            old, new = set(old), set(_dedupe(new))
        elif f.name in SINGLE_CODES:
            old, new = old or None, new or None
        if old != new:
            changed.append(f.name)
    return sorted(changed)


def copy_posting(session: Session, actor: Any, source: JobPosting, ip: str | None = None) -> JobPosting:
    """A new draft with the source's content, titled 「…(コピー)」. The publish window is left empty (the
    old one has usually passed) and codes that may no longer be chosen are left out of the lists.
    Audited, not committed."""
    values = PostingValues.of(session, source)
    values.title = values.title[:TITLE_MAX - len(COPY_SUFFIX)] + COPY_SUFFIX
    values.publish_from = values.publish_until = None
    for name, (kind, _role) in LIST_CODES.items():
        allowed = _choosable(session, kind, set())
        setattr(values, name, [code_id for code_id in getattr(values, name) if code_id in allowed])
    if values.employment_type and values.employment_type not in _choosable(session, CodeKind.EMPLOYMENT_TYPE, set()):
        values.employment_type = None
    copy = JobPosting(status=PostingStatus.DRAFT.value, created_by_id=getattr(actor, "id", None))
    _assign(copy, values)  # required codes are copied even if retired: the editor sees and replaces them
    session.add(copy)
    session.flush()
    _replace_codes(session, copy, values)
    audit.record(session, actor, "posting.copy", f"posting:{copy.id}", {"source_id": source.id}, ip)
    return copy


def set_status(session: Session, actor: Any, posting: JobPosting, status: PostingStatus | str,
               ip: str | None = None, now: datetime | None = None) -> None:
    """Open (publish), close (終了) or mark filled (充足). Opening without a publish start publishes from
    now. Raises StatusRefused when the change does not apply. Audited, not committed."""
    now = now or utcnow()
    target = PostingStatus(status).value
    current = posting.status
    if target == current:
        raise StatusRefused(str(_l("すでに「%(status)s」です。", status=STATUS_LABELS[target])))
    if current not in TRANSITIONS.get(target, set()):
        raise StatusRefused(str(_l("「%(current)s」の求人は「%(target)s」にできません。",
                                   current=STATUS_LABELS.get(current, current),
                                   target=STATUS_LABELS.get(target, target))))
    if target == PostingStatus.OPEN.value:
        if posting.publish_until is not None and posting.publish_until <= now:
            raise StatusRefused(str(_l("掲載終了日時を過ぎています。掲載期間を変更してから公開してください。")))
        if posting.publish_from is None:
            posting.publish_from = now.replace(microsecond=0)
        posting.closed_at = None
    else:
        posting.closed_at = now
    posting.status = target
    posting.updated_at = now
    session.flush()
    audit.record(session, actor, "posting.status", f"posting:{posting.id}", {"from": current, "to": target}, ip)


# --- reading --------------------------------------------------------------------------------------

def open_postings_statement(now: datetime | None = None) -> sa.Select[tuple[JobPosting]]:
    """SQL: postings that are open and inside their publish window at `now` (from inclusive, until
    exclusive; no start means since opening). Unordered, so callers add their own order and filters."""
    now = now or utcnow()
    return sa.select(JobPosting).where(
        JobPosting.status == PostingStatus.OPEN.value,
        sa.or_(JobPosting.publish_from.is_(None), JobPosting.publish_from <= now),
        sa.or_(JobPosting.publish_until.is_(None), JobPosting.publish_until > now))


def is_open_now(posting: JobPosting, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (posting.status == PostingStatus.OPEN.value
            and (posting.publish_from is None or posting.publish_from <= now)
            and (posting.publish_until is None or posting.publish_until > now))


def posting_codes(session: Session, posting: JobPosting) -> dict[PostingCodeRole, list[Code]]:
    """The posting's subjects, required and preferred licences, each in master order."""
    result: dict[PostingCodeRole, list[Code]] = {role: [] for role in PostingCodeRole}
    rows = session.execute(sa.select(posting_code.c.role, Code).join(Code, Code.id == posting_code.c.code_id)
                           .where(posting_code.c.posting_id == posting.id).order_by(Code.sort_order, Code.id))
    for role, code in rows:
        result[PostingCodeRole(role)].append(code)
    return result


def period_text(posting: JobPosting) -> str:
    end = posting.period_end.isoformat() if posting.period_end else ""
    return f"{posting.period_start.isoformat()}〜{end}"


def posting_summary(posting: JobPosting, limit: int = 200) -> str:
    """One line naming the posting for histories (e.g. a correspondence subject): title, school, period."""
    tail = f"({posting.school_name}、{period_text(posting)})"
    title = posting.title
    if len(title) + len(tail) > limit:
        title = title[:max(0, limit - len(tail) - 1)] + "…"
    return (title + tail)[:limit]


@dataclass(frozen=True)
class Criteria:
    text: str = ""  # words, each in the title or the school name
    status: str | None = None
    region_id: int | None = None
    job_type_id: int | None = None
    school_type_id: int | None = None
    subject_id: int | None = None
    period_from: date | None = None  # the work period overlaps [period_from, period_to]
    period_to: date | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(session: Session, criteria: Criteria, page: int = 1, per_page: int = PER_PAGE) -> Page:
    """Postings matching every given criterion, newest first."""
    stmt = sa.select(JobPosting).options(selectinload(JobPosting.region), selectinload(JobPosting.school_type),
                                         selectinload(JobPosting.job_type))
    for word in criteria.text.split()[:10]:
        pattern = f"%{_escape_like(word)}%"
        stmt = stmt.where(sa.or_(JobPosting.title.like(pattern, escape="\\"),
                                 JobPosting.school_name.like(pattern, escape="\\")))
    if criteria.status:
        stmt = stmt.where(JobPosting.status == criteria.status)
    for column, value in ((JobPosting.region_id, criteria.region_id), (JobPosting.job_type_id, criteria.job_type_id),
                          (JobPosting.school_type_id, criteria.school_type_id)):
        if value:
            stmt = stmt.where(column == value)
    if criteria.subject_id:
        stmt = stmt.where(sa.exists().where(posting_code.c.posting_id == JobPosting.id,
                                            posting_code.c.code_id == criteria.subject_id,
                                            posting_code.c.role == PostingCodeRole.SUBJECT.value))
    if criteria.period_to:
        stmt = stmt.where(JobPosting.period_start <= criteria.period_to)
    if criteria.period_from:
        stmt = stmt.where(sa.or_(JobPosting.period_end.is_(None), JobPosting.period_end >= criteria.period_from))
    stmt = stmt.order_by(JobPosting.created_at.desc(), JobPosting.id.desc())
    return paginate(session, stmt, max(1, page), per_page)


def portal_postings(session: Session, page: int = 1, now: datetime | None = None) -> Page:
    """What registrants see: open, in the publish window, marked for the portal; newest first."""
    stmt = (open_postings_statement(now).where(JobPosting.show_in_portal.is_(True))
            .options(selectinload(JobPosting.region), selectinload(JobPosting.school_type),
                     selectinload(JobPosting.job_type), selectinload(JobPosting.employment_type))
            .order_by(sa.func.coalesce(JobPosting.publish_from, JobPosting.created_at).desc(), JobPosting.id.desc()))
    return paginate(session, stmt, max(1, page), PORTAL_PER_PAGE)


def portal_posting(session: Session, posting_id: int, now: datetime | None = None) -> JobPosting | None:
    """One posting if registrants may see it now, else None."""
    stmt = open_postings_statement(now).where(JobPosting.show_in_portal.is_(True), JobPosting.id == posting_id)
    return session.scalar(stmt)

