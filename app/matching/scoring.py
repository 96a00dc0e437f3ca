"""The match score: computed in SQL for ranking, explained in Python for the rows on screen.

Both sides are written from the same weights and the same facts, part by part, so the parts shown
always add up to the score the list was ordered by (tests assert it). A part whose weight is 0 is left
out of both. Ties are broken by id, so the same data always gives the same order.

"Recently contacted" lowers the score of someone contacted (any correspondence entry) within
`match_recent_contact_days`, unless they are already a candidate of this posting: the pipeline writes
correspondence itself, and that contact is about this very posting (their stage is shown instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.codes.models import Code
from app.core.timeutil import tokyo_today, utcnow
from app.correspondence.models import Correspondence
from app.matching.models import MatchCandidate, MatchWeight
from app.matching.services import (
    PostingFacts,
    fit_conditions,
    many_posting_facts,
    posting_facts,
    postings_available_for,
    region_code_ids,
    without_status_index,
)
from app.postings.models import JobPosting, PostingCodeRole, PostingStatus, posting_code
from app.registrants.models import Registrant, RegistrantStatus, registrant_code

SUBJECT_CAP = 2  # matching subjects counted at most this many times
PER_PAGE = 50


@dataclass(frozen=True)
class Weight:
    default: int
    minimum: int
    maximum: int
    label: Any


WEIGHTS: dict[str, Weight] = {
    "required_licence": Weight(40, 0, 100, _l("必須免許を持っている")),
    "preferred_licence": Weight(10, 0, 50, _l("歓迎免許を持っている(1つごと)")),
    "same_municipality": Weight(20, 0, 100, _l("学校と同じ市町村に住んでいる")),
    "desired_region": Weight(10, 0, 100, _l("学校の市町村が希望勤務地域に入っている")),
    "job_type": Weight(20, 0, 100, _l("希望職種が一致")),
    "school_type": Weight(10, 0, 100, _l("希望校種が一致")),
    "subject": Weight(10, 0, 50, _l("教科が一致(1つごと、2つまで)")),
    "recent_contact": Weight(-15, -100, 0, _l("最近連絡済み(対応履歴あり)")),
    "in_pipeline": Weight(0, -100, 100, _l("この求人の候補に入っている")),
}


class WeightError(ValueError):
    """A weight outside its range or an unknown key."""


def defaults() -> dict[str, int]:
    return {key: weight.default for key, weight in WEIGHTS.items()}


def current_weights(session: Session) -> dict[str, int]:
    """The weights in force: stored values over the shipped defaults."""
    weights = defaults()
    for key, points in session.execute(sa.select(MatchWeight.key, MatchWeight.points)):
        if key in weights:
            weights[key] = points
    return weights


def check_weight(key: str, points: int) -> None:
    weight = WEIGHTS.get(key)
    if weight is None:
        raise WeightError(f"unknown weight {key}")
    if not weight.minimum <= points <= weight.maximum:
        raise WeightError(f"{key} out of range")


def save_weights(session: Session, actor: Any, new: dict[str, int], ip: str | None = None) -> dict[str, list[int]]:
    """Store changed weights; each change is audited with old → new. Returns {key: [old, new]}. Not committed."""
    for key, points in new.items():
        check_weight(key, points)
    old = current_weights(session)
    changes = {key: [old[key], points] for key, points in sorted(new.items()) if old[key] != points}
    for key, (_old, points) in changes.items():
        row = session.get(MatchWeight, key)
        if row is None:
            session.add(MatchWeight(key=key, points=points, updated_by_id=actor.id))
        else:
            row.points, row.updated_by_id = points, actor.id
    if changes:
        session.flush()
        audit.record(session, actor, "matching.weights", "match_weight", {"changes": changes}, ip)
    return changes


def reset_weights(session: Session, actor: Any, ip: str | None = None) -> dict[str, list[int]]:
    """Back to the shipped defaults (audited as one change listing old → new)."""
    changes = save_weights(session, actor, defaults(), ip)
    session.execute(sa.delete(MatchWeight))
    return changes


def recent_contact_days() -> int:
    if has_app_context() and "tsunagu.settings" in current_app.extensions:
        return int(current_app.extensions["tsunagu.settings"].match_recent_contact_days)
    return 30


# --- SQL ----------------------------------------------------------------------------------------

def _when(condition: Any, points: int) -> Any:
    return sa.case((condition, sa.literal(points)), else_=sa.literal(0))


def _counted(count: Any, points: int, cap: int | None = None) -> Any:
    """count × points, with the count capped (CASE, because SQLite has no LEAST)."""
    if cap is None:
        return count * sa.literal(points)
    return sa.case((count >= cap, sa.literal(cap * points)), else_=count * sa.literal(points))


def _recent_contact(since: datetime) -> Any:
    return sa.exists().where(Correspondence.registrant_id == Registrant.id, Correspondence.occurred_at >= since)


def _hits(code_ids: Iterable[int]) -> Any:
    """1 for a registrant_code row whose code is one of these, else 0 (to be summed per registrant)."""
    ids = sorted(set(code_ids))
    column = registrant_code.c.code_id
    return sa.case((column == ids[0] if len(ids) == 1 else column.in_(ids), 1), else_=0)


def _code_parts(facts: PostingFacts, w: dict[str, int]) -> Any | None:
    """SQL: every code-based part of the score in ONE correlated subquery, reading the registrant's few
    registrant_code rows once (by primary key prefix) instead of one probe per part."""
    sums: list[Any] = []
    if w["required_licence"] and facts.required:
        sums.append(sa.case((sa.func.sum(_hits(facts.required)) > 0, w["required_licence"]), else_=0))
    if w["preferred_licence"] and facts.preferred:
        sums.append(sa.func.sum(_hits(facts.preferred)) * w["preferred_licence"])
    for key, code_id in (("desired_region", facts.region_id), ("job_type", facts.job_type_id),
                         ("school_type", facts.school_type_id)):
        if w[key]:
            sums.append(sa.func.sum(_hits([code_id])) * w[key])
    if w["subject"] and facts.subjects:
        count = sa.func.sum(_hits(facts.subjects))
        cap = SUBJECT_CAP if len(facts.subjects) > SUBJECT_CAP else None
        sums.append(_counted(count, w["subject"], cap))
    if not sums:
        return None
    total = sum(sums[1:], sums[0])
    return (sa.select(sa.func.coalesce(total, 0)).select_from(registrant_code)
            .where(registrant_code.c.registrant_id == Registrant.id).scalar_subquery())


def registrant_score(facts: PostingFacts, weights: dict[str, int], since: datetime) -> Any:
    """SQL: the score of the outer query's Registrant for this posting (mirrors `explain`)."""
    w = weights
    parts: list[Any] = []
    codes = _code_parts(facts, w)
    if codes is not None:
        parts.append(codes)
    if w["same_municipality"]:
        parts.append(_when(Registrant.region_id == facts.region_id, w["same_municipality"]))
    in_pipeline = sa.exists().where(MatchCandidate.posting_id == facts.id, MatchCandidate.registrant_id == Registrant.id)
    if w["recent_contact"]:
        parts.append(_when(sa.and_(_recent_contact(since), sa.not_(in_pipeline)), w["recent_contact"]))
    if w["in_pipeline"]:
        parts.append(_when(in_pipeline, w["in_pipeline"]))
    return sum(parts[1:], parts[0]) if parts else sa.literal(0)


def _posting_code_exists(role: PostingCodeRole, code_ids: set[int]) -> Any:
    if not code_ids:
        return sa.false()
    return sa.exists().where(posting_code.c.posting_id == JobPosting.id, posting_code.c.role == role.value,
                             posting_code.c.code_id.in_(sorted(code_ids)))


def _posting_code_count(role: PostingCodeRole, code_ids: set[int]) -> Any:
    if not code_ids:
        return sa.literal(0)
    return (sa.select(sa.func.count()).select_from(posting_code)
            .where(posting_code.c.posting_id == JobPosting.id, posting_code.c.role == role.value,
                   posting_code.c.code_id.in_(sorted(code_ids))).scalar_subquery())


def posting_score(person: RegistrantFacts, weights: dict[str, int]) -> Any:
    """SQL: the score of the outer query's JobPosting for this registrant (the mirror of registrant_score)."""
    w, codes = weights, set(person.codes)
    parts: list[Any] = []
    if w["required_licence"]:
        parts.append(_when(_posting_code_exists(PostingCodeRole.REQUIRED_LICENCE, codes), w["required_licence"]))
    if w["preferred_licence"]:
        parts.append(_counted(_posting_code_count(PostingCodeRole.PREFERRED_LICENCE, codes), w["preferred_licence"]))
    if w["same_municipality"] and person.region_id is not None:
        parts.append(_when(JobPosting.region_id == person.region_id, w["same_municipality"]))
    if w["desired_region"] and codes:
        parts.append(_when(JobPosting.region_id.in_(sorted(codes)), w["desired_region"]))
    if w["job_type"] and codes:
        parts.append(_when(JobPosting.job_type_id.in_(sorted(codes)), w["job_type"]))
    if w["school_type"] and codes:
        parts.append(_when(JobPosting.school_type_id.in_(sorted(codes)), w["school_type"]))
    if w["subject"]:
        parts.append(_counted(_posting_code_count(PostingCodeRole.SUBJECT, codes), w["subject"], SUBJECT_CAP))
    in_pipeline = sa.exists().where(MatchCandidate.posting_id == JobPosting.id, MatchCandidate.registrant_id == person.id)
    if w["recent_contact"] and person.recent_contact:
        parts.append(_when(sa.not_(in_pipeline), w["recent_contact"]))
    if w["in_pipeline"]:
        parts.append(_when(in_pipeline, w["in_pipeline"]))
    return sum(parts[1:], parts[0]) if parts else sa.literal(0)


# --- explanation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegistrantFacts:
    id: int
    region_id: int | None
    codes: frozenset[int]
    recent_contact: bool = False
    stage: str | None = None  # stage in the posting's pipeline, if any


@dataclass(frozen=True)
class Part:
    key: str
    text: str
    points: int


def _sorted_codes(ids: Iterable[int], codes: dict[int, Code]) -> list[Code]:
    return sorted((codes[i] for i in ids if i in codes), key=lambda c: (c.sort_order, c.id))


def explain(posting: PostingFacts, person: RegistrantFacts, weights: dict[str, int],
            codes: dict[int, Code]) -> list[Part]:
    """The parts of one registrant's score for one posting, mirroring the SQL part by part."""
    w, held = weights, person.codes
    parts: list[Part] = []
    if w["required_licence"] and posting.required & held:
        labels = "・".join(c.label for c in _sorted_codes(posting.required & held, codes))
        parts.append(Part("required_licence", _("免許: %(labels)s ✓", labels=labels), w["required_licence"]))
    if w["preferred_licence"]:
        for code in _sorted_codes(posting.preferred & held, codes):
            parts.append(Part("preferred_licence", _("歓迎免許: %(label)s", label=code.label), w["preferred_licence"]))
    if w["same_municipality"] and person.region_id == posting.region_id:
        parts.append(Part("same_municipality", _("地域: 同じ市町村"), w["same_municipality"]))
    if w["desired_region"] and posting.region_id in held:
        parts.append(Part("desired_region", _("地域: 希望勤務地域"), w["desired_region"]))
    if w["job_type"] and posting.job_type_id in held:
        parts.append(Part("job_type", _("希望職種が一致"), w["job_type"]))
    if w["school_type"] and posting.school_type_id in held:
        parts.append(Part("school_type", _("希望校種が一致"), w["school_type"]))
    if w["subject"]:
        for code in _sorted_codes(posting.subjects & held, codes)[:SUBJECT_CAP]:
            parts.append(Part("subject", _("教科: %(label)s", label=code.label), w["subject"]))
    if w["recent_contact"] and person.recent_contact and person.stage is None:
        parts.append(Part("recent_contact", _("最近連絡済み"), w["recent_contact"]))
    if w["in_pipeline"] and person.stage is not None:
        parts.append(Part("in_pipeline", _("候補に追加済み"), w["in_pipeline"]))
    return parts


# --- loading facts for one page -----------------------------------------------------------------

def _codes_by_registrant(session: Session, ids: list[int]) -> dict[int, set[int]]:
    held: dict[int, set[int]] = {i: set() for i in ids}
    if ids:
        for rid, code_id in session.execute(sa.select(registrant_code.c.registrant_id, registrant_code.c.code_id)
                                            .where(registrant_code.c.registrant_id.in_(ids))):
            held[rid].add(code_id)
    return held


def _recently_contacted(session: Session, ids: list[int], since: datetime) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(sa.select(Correspondence.registrant_id).distinct()
                               .where(Correspondence.registrant_id.in_(ids), Correspondence.occurred_at >= since)))


def registrant_facts(session: Session, registrants: list[Registrant], since: datetime,
                     stages: dict[int, str] | None = None) -> dict[int, RegistrantFacts]:
    ids = [r.id for r in registrants]
    held, recent, stages = _codes_by_registrant(session, ids), _recently_contacted(session, ids, since), stages or {}
    return {r.id: RegistrantFacts(r.id, r.region_id, frozenset(held[r.id]), r.id in recent, stages.get(r.id))
            for r in registrants}


def _code_map(session: Session, ids: Iterable[int]) -> dict[int, Code]:
    wanted = sorted(set(ids))
    return {c.id: c for c in session.scalars(sa.select(Code).where(Code.id.in_(wanted)))} if wanted else {}


def _since(recent_days: int | None) -> datetime:
    return utcnow() - timedelta(days=recent_contact_days() if recent_days is None else recent_days)


# --- ranking ------------------------------------------------------------------------------------

@dataclass
class Ranked:
    score: int
    parts: list[Part]
    registrant: Registrant | None = None
    posting: JobPosting | None = None
    stage: str | None = None

    @property
    def explained_total(self) -> int:
        return sum(part.points for part in self.parts)


@dataclass
class Ranking:
    items: list[Ranked]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def ranked_registrants_stmt(session: Session, posting: JobPosting, *, weights: dict[str, int] | None = None,
                            today: date | None = None, recent_days: int | None = None) -> tuple[sa.Select[Any], Any]:
    """(SELECT id, score of every registrant fitting `posting`, best first; the WHERE clause alone)."""
    facts = posting_facts(session, posting)
    score = registrant_score(facts, weights or current_weights(session), _since(recent_days)).label("score")
    conditions = sa.and_(*fit_conditions(facts, region_code_ids(session), today or tokyo_today()))
    stmt = sa.select(Registrant.id, score).where(conditions).order_by(sa.desc("score"), Registrant.id.asc())
    return without_status_index(stmt), conditions


def rank_registrants(session: Session, posting: JobPosting, page: int = 1, per_page: int = PER_PAGE, *,
                     weights: dict[str, int] | None = None, today: date | None = None,
                     recent_days: int | None = None) -> Ranking:
    """One page of the registrants fitting `posting`, best first, each with the parts of its score."""
    weights = weights or current_weights(session)
    stmt, conditions = ranked_registrants_stmt(session, posting, weights=weights, today=today,
                                               recent_days=recent_days)
    page = max(1, page)
    # the total comes with the page (one pass over the candidates instead of two)
    rows = session.execute(stmt.add_columns(sa.func.count().over().label("total"))
                           .limit(per_page).offset((page - 1) * per_page)).all()
    count = without_status_index(sa.select(sa.func.count()).select_from(Registrant).where(conditions))
    total = int(rows[0].total) if rows else int(session.scalar(count) or 0)
    rows = [(row[0], row[1]) for row in rows]
    return Ranking(explain_registrants(session, posting, rows, weights, recent_days), page, per_page, total)


def pipeline_stages(session: Session, posting_id: int, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(sa.select(MatchCandidate.registrant_id, MatchCandidate.stage)
                                .where(MatchCandidate.posting_id == posting_id,
                                       MatchCandidate.registrant_id.in_(ids))).all())


def explain_registrants(session: Session, posting: JobPosting, rows: list[Any], weights: dict[str, int],
                        recent_days: int | None = None) -> list[Ranked]:
    """Explain (registrant id, SQL score) rows for `posting`, keeping their order."""
    ids = [row[0] for row in rows]
    people = {r.id: r for r in session.scalars(sa.select(Registrant).where(Registrant.id.in_(ids)))} if ids else {}
    facts = posting_facts(session, posting)
    stages = pipeline_stages(session, posting.id, ids)
    person_facts = registrant_facts(session, list(people.values()), _since(recent_days), stages)
    codes = _code_map(session, facts.required | facts.preferred | facts.subjects)
    return [Ranked(score=int(score), parts=explain(facts, person_facts[rid], weights, codes),
                   registrant=people[rid], stage=stages.get(rid)) for rid, score in rows]


def scores_for(session: Session, posting: JobPosting, ids: Iterable[int], weights: dict[str, int] | None = None,
               recent_days: int | None = None) -> dict[int, int]:
    """The current score of each given registrant for `posting` (no filtering)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    facts = posting_facts(session, posting)
    score = registrant_score(facts, weights or current_weights(session), _since(recent_days))
    return {rid: int(s) for rid, s in session.execute(sa.select(Registrant.id, score)
                                                      .where(Registrant.id.in_(wanted)))}


# --- the other direction: postings for one registrant -------------------------------------------

def posting_fit_conditions(person: RegistrantFacts, desired_regions: set[int], today: date) -> list[Any]:
    """The hard filters from the registrant's side, as SQL conditions on JobPosting (open postings only)."""
    conditions: list[Any] = [JobPosting.status == PostingStatus.OPEN.value]
    required_any = sa.exists().where(posting_code.c.posting_id == JobPosting.id,
                                     posting_code.c.role == PostingCodeRole.REQUIRED_LICENCE.value)
    conditions.append(sa.or_(sa.not_(required_any),
                             _posting_code_exists(PostingCodeRole.REQUIRED_LICENCE, set(person.codes))))
    if desired_regions:
        conditions.append(JobPosting.region_id.in_(sorted(desired_regions | {person.region_id} - {None})))
    return conditions


def registrant_can_match(registrant: Registrant) -> bool:
    return registrant.status == RegistrantStatus.ACTIVE.value and bool(registrant.data_use_consent)


def ranked_postings_stmt(session: Session, registrant: Registrant, *, weights: dict[str, int] | None = None,
                         today: date | None = None,
                         recent_days: int | None = None) -> tuple[sa.Select[Any], Any, RegistrantFacts]:
    """(SELECT id, score of every open posting `registrant` fits, best first; the WHERE clause; their facts).
    The registrant must be able to match (registrant_can_match)."""
    weights = weights or current_weights(session)
    today = today or tokyo_today()
    person = registrant_facts(session, [registrant], _since(recent_days))[registrant.id]
    desired = set(person.codes) & set(region_code_ids(session))
    conditions = sa.and_(*posting_fit_conditions(person, desired, today),
                         postings_available_for(registrant.available_from, today))
    score = posting_score(person, weights).label("score")
    stmt = sa.select(JobPosting.id, score).where(conditions).order_by(sa.desc("score"), JobPosting.id.asc())
    return stmt, conditions, person


def rank_postings(session: Session, registrant: Registrant, page: int = 1, per_page: int = PER_PAGE, *,
                  weights: dict[str, int] | None = None, today: date | None = None,
                  recent_days: int | None = None) -> Ranking:
    """One page of the open postings `registrant` fits, best first, explained the same way."""
    page = max(1, page)
    if not registrant_can_match(registrant):
        return Ranking([], page, per_page, 0)
    weights = weights or current_weights(session)
    stmt, conditions, person = ranked_postings_stmt(session, registrant, weights=weights, today=today,
                                                    recent_days=recent_days)
    total = session.scalar(sa.select(sa.func.count()).select_from(JobPosting).where(conditions)) or 0
    rows = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Ranking(explain_postings(session, person, rows, weights), page, per_page, total)


def explain_postings(session: Session, person: RegistrantFacts, rows: list[Any],
                     weights: dict[str, int]) -> list[Ranked]:
    ids = [row[0] for row in rows]
    postings = {p.id: p for p in session.scalars(sa.select(JobPosting).where(JobPosting.id.in_(ids)))} if ids else {}
    stages = dict(session.execute(sa.select(MatchCandidate.posting_id, MatchCandidate.stage)
                                  .where(MatchCandidate.registrant_id == person.id,
                                         MatchCandidate.posting_id.in_(ids))).all()) if ids else {}
    all_facts = many_posting_facts(session, list(postings.values()))
    codes = _code_map(session, [c for f in all_facts.values() for c in f.required | f.preferred | f.subjects])
    result = []
    for pid, score in rows:
        facts = all_facts[pid]
        staged = RegistrantFacts(person.id, person.region_id, person.codes, person.recent_contact, stages.get(pid))
        result.append(Ranked(score=int(score), parts=explain(facts, staged, weights, codes),
                             posting=postings[pid], stage=stages.get(pid)))
    return result
