"""Who may be matched to a posting: the hard filters, all in SQL.

A registrant fits a posting when they are active, consent to the use of their data, hold at least one of
the posting's required licences (if it names any), can start in time, and accept its region. Everything
else (preferred licences, subjects, desired job type...) only changes the score (see scoring.py).

"Can start in time": `available_from` is empty, or on or before the cut-off day: the later of the
posting's start and today, plus AVAILABILITY_GRACE_DAYS, but never after the posting's end. So someone
free from 10 April still fits a post starting 1 April; someone free only after the post ends never does.

"Accepts the region": no desired regions means anywhere; otherwise the posting's municipality is one of
the desired regions or the one they live in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.codes.models import Code, CodeKind
from app.core.timeutil import tokyo_today
from app.postings.models import JobPosting, PostingCodeRole, posting_code
from app.registrants.models import Registrant, RegistrantStatus, registrant_code

AVAILABILITY_GRACE_DAYS = 30
CHUNK = 500


@dataclass(frozen=True)
class PostingFacts:
    """What matching needs to know about one posting (its code sets by role)."""

    id: int
    region_id: int
    job_type_id: int
    school_type_id: int
    period_start: date
    period_end: date | None
    required: frozenset[int] = field(default_factory=frozenset)
    preferred: frozenset[int] = field(default_factory=frozenset)
    subjects: frozenset[int] = field(default_factory=frozenset)


def posting_facts(session: Session, posting: JobPosting) -> PostingFacts:
    return many_posting_facts(session, [posting])[posting.id]


def many_posting_facts(session: Session, postings: list[JobPosting]) -> dict[int, PostingFacts]:
    """Facts of several postings with one query for their codes."""
    roles: dict[int, dict[str, set[int]]] = {p.id: {role.value: set() for role in PostingCodeRole} for p in postings}
    if postings:
        rows = session.execute(sa.select(posting_code.c.posting_id, posting_code.c.role, posting_code.c.code_id)
                               .where(posting_code.c.posting_id.in_(sorted(roles))))
        for posting_id, role, code_id in rows:
            roles[posting_id].setdefault(role, set()).add(code_id)
    return {p.id: PostingFacts(id=p.id, region_id=p.region_id, job_type_id=p.job_type_id,
                               school_type_id=p.school_type_id, period_start=p.period_start, period_end=p.period_end,
                               required=frozenset(roles[p.id][PostingCodeRole.REQUIRED_LICENCE.value]),
                               preferred=frozenset(roles[p.id][PostingCodeRole.PREFERRED_LICENCE.value]),
                               subjects=frozenset(roles[p.id][PostingCodeRole.SUBJECT.value]))
            for p in postings}


def region_code_ids(session: Session) -> list[int]:
    """Every region code (a registrant's region codes in registrant_code are their desired work regions)."""
    return list(session.scalars(sa.select(Code.id).where(Code.kind == CodeKind.REGION.value).order_by(Code.id)))


def availability_cutoff(period_start: date, period_end: date | None, today: date) -> date:
    """The last `available_from` day that still fits a posting with this period."""
    cutoff = max(period_start, today) + timedelta(days=AVAILABILITY_GRACE_DAYS)
    return min(cutoff, period_end) if period_end is not None else cutoff


def postings_available_for(available_from: date | None, today: date) -> Any:
    """SQL on JobPosting: the same rule as `availability_cutoff`, solved for the posting's dates."""
    if available_from is None:
        return sa.true()
    earliest_start = available_from - timedelta(days=AVAILABILITY_GRACE_DAYS)
    starts_in_time = sa.true() if today >= earliest_start else JobPosting.period_start >= earliest_start
    return sa.and_(starts_in_time, sa.or_(JobPosting.period_end.is_(None), JobPosting.period_end >= available_from))


def has_code(code_ids: Iterable[int]) -> Any:
    """SQL: the registrant of the outer query has one of these codes (EXISTS on registrant_code)."""
    ids = sorted(set(code_ids))
    if not ids:
        return sa.false()
    column = registrant_code.c.code_id
    return sa.exists().where(registrant_code.c.registrant_id == Registrant.id,
                             column == ids[0] if len(ids) == 1 else column.in_(ids))


def standing_conditions() -> list[Any]:
    """The hard filters that do not depend on the posting: active and consenting to the use of their data."""
    return [Registrant.status == RegistrantStatus.ACTIVE.value, Registrant.data_use_consent.is_(True)]


def fit_conditions(facts: PostingFacts, region_ids: list[int], today: date) -> list[Any]:
    """The hard filters as SQL conditions on Registrant."""
    conditions = standing_conditions()
    if facts.required:
        conditions.append(has_code(facts.required))
    cutoff = availability_cutoff(facts.period_start, facts.period_end, today)
    conditions.append(sa.or_(Registrant.available_from.is_(None), Registrant.available_from <= cutoff))
    conditions.append(sa.or_(Registrant.region_id == facts.region_id, _region_flag(facts.region_id, region_ids) != 1))
    return conditions


def _region_flag(region_id: int, region_ids: list[int]) -> Any:
    """SQL on Registrant: 2 if `region_id` is among their desired regions, 1 if they desire only other
    regions, 0 if they named none (one read of their registrant_code rows, not one probe per region)."""
    column = registrant_code.c.code_id
    others = sorted(set(region_ids) - {region_id})
    flag = sa.case((column == region_id, 2), (column.in_(others), 1), else_=0) if others else \
        sa.case((column == region_id, 2), else_=0)
    return sa.func.coalesce(sa.select(sa.func.max(flag)).where(registrant_code.c.registrant_id == Registrant.id)
                            .scalar_subquery(), 0)


def without_status_index(stmt: sa.Select[Any]) -> sa.Select[Any]:
    """MariaDB only: keep the planner off ix_registrant_status. Most registrants are active, and walking
    that index probing each row's licence costs several times more than starting from the holders of
    the required licence (ix_registrant_code_code), which it otherwise picks whenever a LIMIT or a
    subquery is involved (measured in bench/matching_bench.py)."""
    for dialect in ("mysql", "mariadb"):
        stmt = stmt.with_hint(Registrant, "IGNORE INDEX (ix_registrant_status)", dialect_name=dialect)
    return stmt


def fits(session: Session, posting: JobPosting, today: date | None = None) -> sa.Select[Any]:
    """Registrant ids passing every hard filter of `posting` (not ordered)."""
    facts = posting_facts(session, posting)
    conditions = fit_conditions(facts, region_code_ids(session), today or tokyo_today())
    return without_status_index(sa.select(Registrant.id).where(*conditions))


def eligible_ids(session: Session, posting: JobPosting, ids: Iterable[int], today: date | None = None) -> set[int]:
    """The subset of `ids` that fits `posting` now: a stale or forged selection never lets anyone else through."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return set()
    base = fits(session, posting, today)
    found: set[int] = set()
    for start in range(0, len(wanted), CHUNK):
        found.update(session.scalars(base.where(Registrant.id.in_(wanted[start:start + CHUNK]))))
    return found


# --- many postings against many registrants at once (the new-posting notices) ------------------------------

@dataclass(frozen=True)
class FitPool:
    """Temporary tables of the connection that made them (`make_fit_pool`): a snapshot of the registrants
    passing `standing_conditions` (and the caller's own conditions) with their codes, and the postings to
    match with the facts the filters read. `pool_fits` then matches every posting against any slice of the
    registrants in one statement, with the same rules as `fit_conditions` (bench/notify_bench.py)."""

    members: sa.Table  # registrant_id, region_id, available_from, names_regions (any desired region at all)
    codes: sa.Table  # (code_id, registrant_id)
    postings: sa.Table  # posting_id, region_id, cutoff (availability_cutoff), requires_licence
    required: sa.Table  # (posting_id, code_id): the required licences


def _pool_tables(name: str) -> FitPool:
    metadata = sa.MetaData()

    def table(suffix: str, *columns: sa.Column[Any]) -> sa.Table:
        return sa.Table(f"{name}_{suffix}", metadata, *columns, prefixes=["TEMPORARY"])

    def key(column: str) -> sa.Column[Any]:
        return sa.Column(column, sa.Integer, primary_key=True, autoincrement=False)

    return FitPool(
        members=table("member", key("registrant_id"), sa.Column("region_id", sa.Integer),
                      sa.Column("available_from", sa.Date), sa.Column("names_regions", sa.Boolean, nullable=False)),
        codes=table("code", key("code_id"), key("registrant_id")),
        postings=table("posting", key("posting_id"), sa.Column("region_id", sa.Integer, nullable=False),
                       sa.Column("cutoff", sa.Date, nullable=False),
                       sa.Column("requires_licence", sa.Boolean, nullable=False)),
        required=table("required", key("posting_id"), key("code_id")))


def make_fit_pool(connection: sa.Connection, postings: Iterable[PostingFacts], region_ids: list[int], today: date,
                  *conditions: Any, name: str = "fit_pool") -> FitPool:
    """Fill the temporary tables `name`_* on `connection` (replacing any left over) with the registrants
    passing `standing_conditions` and `conditions`, and with `postings`; the caller drops them (`drop_fit_pool`)."""
    pool = _pool_tables(name)
    drop_fit_pool(connection, pool)
    for table in (pool.members, pool.codes, pool.postings, pool.required):
        table.create(connection)
    connection.execute(pool.members.insert().from_select(
        ["registrant_id", "region_id", "available_from", "names_regions"],
        sa.select(Registrant.id, Registrant.region_id, Registrant.available_from,
                  sa.case((has_code(region_ids), True), else_=False)).where(*standing_conditions(), *conditions)))
    connection.execute(pool.codes.insert().from_select(
        ["code_id", "registrant_id"],
        sa.select(registrant_code.c.code_id, registrant_code.c.registrant_id)
        .join(pool.members, pool.members.c.registrant_id == registrant_code.c.registrant_id)))
    facts = list(postings)
    for start in range(0, len(facts), CHUNK):
        part = facts[start:start + CHUNK]
        connection.execute(pool.postings.insert(), [
            {"posting_id": f.id, "region_id": f.region_id, "requires_licence": bool(f.required),
             "cutoff": availability_cutoff(f.period_start, f.period_end, today)} for f in part])
        required = [{"posting_id": f.id, "code_id": code_id} for f in part for code_id in sorted(f.required)]
        if required:
            connection.execute(pool.required.insert(), required)
    return pool


def drop_fit_pool(connection: sa.Connection, pool: FitPool) -> None:
    temporary = "TEMPORARY " if connection.dialect.name in ("mysql", "mariadb") else ""
    for table in (pool.required, pool.postings, pool.codes, pool.members):
        connection.execute(sa.text(f"DROP {temporary}TABLE IF EXISTS {table.name}"))


def pool_fits(pool: FitPool) -> sa.Select[Any]:
    """(posting_id, registrant_id) of every pool posting and pool registrant passing the posting's hard filters:
    the rules of `fit_conditions`, the region rule read as "lives there, names no desired region, or names
    this one". Add a condition on the registrant id to take a slice."""
    member, posting, codes, required = pool.members.c, pool.postings.c, pool.codes.c, pool.required.c
    in_time = sa.or_(member.available_from.is_(None), member.available_from <= posting.cutoff)
    holds_licence = sa.exists().where(required.posting_id == posting.posting_id,
                                      codes.code_id == required.code_id, codes.registrant_id == member.registrant_id)
    names_region = sa.exists().where(codes.code_id == posting.region_id, codes.registrant_id == member.registrant_id)
    return (sa.select(posting.posting_id, member.registrant_id)
            .select_from(pool.members.join(pool.postings, in_time))
            .where(sa.or_(sa.not_(posting.requires_licence), holds_licence),
                   sa.or_(member.region_id == posting.region_id, sa.not_(member.names_regions), names_region)))
