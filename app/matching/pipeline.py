"""Working a match: the candidates of a posting, their stage, and the record each step leaves.

Every stage a candidate reaches is also written to the registrant's correspondence history (so whoever
opens the registrant sees it) and to the audit history (ids only, never names).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.codes.models import Code, CodeKind
from app.core.timeutil import utcnow
from app.correspondence import services as correspondence
from app.correspondence.models import OUTCOME_MAX, SUBJECT_MAX
from app.matching.models import CandidateStage, MatchCandidate
from app.matching.scoring import scores_for
from app.matching.services import eligible_ids
from app.postings.models import JobPosting, PostingStatus
from app.registrants.models import Registrant, RegistrantStatus

STAGE_LABELS: dict[str, Any] = {
    CandidateStage.PROPOSED.value: _l("提案"),
    CandidateStage.CONTACTED.value: _l("連絡済"),
    CandidateStage.INTERVIEWING.value: _l("面接中"),
    CandidateStage.HIRED.value: _l("採用"),
    CandidateStage.DECLINED.value: _l("辞退"),
}
STAGES = [stage.value for stage in CandidateStage]
CHANNEL_CODE = "other"  # correspondence channel used for pipeline entries (その他)
GONE = {RegistrantStatus.WITHDRAWN.value, RegistrantStatus.ANONYMISED.value}


class PipelineError(ValueError):
    """A pipeline change was refused; the message is for the user."""


@dataclass
class ProposeResult:
    added: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)  # not eligible (withdrawn, expired, unknown...)


def stage_label(stage: str | None) -> str:
    return str(STAGE_LABELS.get(stage or "", stage or ""))


def _channel_id(session: Session) -> int:
    """The correspondence channel for pipeline entries: その他 (other), created if the master lacks it."""
    kind = CodeKind.CORRESPONDENCE_CHANNEL.value
    code_id = session.scalar(sa.select(Code.id).where(Code.kind == kind, Code.code == CHANNEL_CODE))
    if code_id is None:
        code = Code(kind=kind, code=CHANNEL_CODE, label="その他", label_en="Other", sort_order=999)
        session.add(code)
        session.flush()
        code_id = code.id
    return code_id


def _write_correspondence(session: Session, actor: Any, posting: JobPosting, registrant_id: int, old: str | None,
                          new: str, note: str | None, ip: str | None) -> None:
    title = posting.title
    subject = _("求人『%(title)s』: %(stage)s", title=title, stage=stage_label(new))
    if len(subject) > SUBJECT_MAX:
        subject = _("求人『%(title)s』: %(stage)s", title=title[:SUBJECT_MAX - 40] + "…", stage=stage_label(new))
    if old is None:
        body = _("求人『%(title)s』(%(school)s)の候補にしました(段階: %(stage)s)。",
                 title=title, school=posting.school_name, stage=stage_label(new))
    else:
        body = _("求人『%(title)s』(%(school)s)の選考段階を「%(old)s」から「%(new)s」に変更しました。",
                 title=title, school=posting.school_name, old=stage_label(old), new=stage_label(new))
    if note:
        body += "\n" + _("メモ: %(note)s", note=note)
    correspondence.create(session, actor, registrant_id, occurred_at=utcnow(), channel_id=_channel_id(session),
                          subject=subject, body=body, outcome=stage_label(new)[:OUTCOME_MAX], ip=ip)


def candidate(session: Session, posting_id: int, registrant_id: int) -> MatchCandidate | None:
    return session.scalar(sa.select(MatchCandidate).where(MatchCandidate.posting_id == posting_id,
                                                          MatchCandidate.registrant_id == registrant_id))


def set_stage(session: Session, actor: Any, posting: JobPosting, registrant_id: int, stage: str, *,
              note: str | None = None, ip: str | None = None) -> MatchCandidate:
    """Create or move a candidate to `stage`. A new candidate must fit the posting now; nobody who withdrew
    (or was anonymised) can be moved. Writes correspondence and audit; not committed."""
    if stage not in STAGES:
        raise PipelineError(_("選考段階の指定が正しくありません。"))
    row = candidate(session, posting.id, registrant_id)
    registrant = session.get(Registrant, registrant_id)
    if registrant is None or registrant.status in GONE:
        raise PipelineError(_("この登録者は退会などにより候補にできません。"))
    note = (note or "").strip() or None
    if row is None:
        if registrant_id not in eligible_ids(session, posting, [registrant_id]):
            raise PipelineError(_("この登録者は求人の条件(状態・同意・免許・勤務開始日・地域)に合わないため候補にできません。"))
        row = MatchCandidate(posting_id=posting.id, registrant_id=registrant_id, stage=stage,
                             score=scores_for(session, posting, [registrant_id]).get(registrant_id, 0),
                             note=note, created_by_id=actor.id, created_at=utcnow(), stage_changed_at=utcnow())
        session.add(row)
        old = None
    else:
        old = row.stage
        if old == stage and (note is None or note == row.note):
            return row
        if note is not None:
            row.note = note
        if old != stage:
            row.stage, row.stage_changed_at = stage, utcnow()
    session.flush()
    if old != stage:
        _write_correspondence(session, actor, posting, registrant_id, old, stage, note, ip)
    audit.record(session, actor, "matching.stage", f"match_candidate:{row.id}",
                 {"posting_id": posting.id, "registrant_id": registrant_id, "from": old, "to": stage,
                  "note_changed": note is not None}, ip)
    return row


def propose(session: Session, actor: Any, posting: JobPosting, registrant_ids: Iterable[int],
            ip: str | None = None) -> ProposeResult:
    """Add the selected registrants as candidates (stage proposed). Anyone who no longer fits is refused,
    anyone already a candidate left as is. Not committed."""
    wanted = sorted({int(i) for i in registrant_ids})
    result = ProposeResult()
    if not wanted:
        return result
    existing = set(session.scalars(sa.select(MatchCandidate.registrant_id).where(
        MatchCandidate.posting_id == posting.id, MatchCandidate.registrant_id.in_(wanted))))
    fitting = eligible_ids(session, posting, [i for i in wanted if i not in existing])
    scores = scores_for(session, posting, fitting)
    for registrant_id in wanted:
        if registrant_id in existing:
            result.already.append(registrant_id)
        elif registrant_id not in fitting:
            result.refused.append(registrant_id)
        else:
            now = utcnow()
            session.add(MatchCandidate(posting_id=posting.id, registrant_id=registrant_id,
                                       stage=CandidateStage.PROPOSED.value, score=scores.get(registrant_id, 0),
                                       created_by_id=actor.id, created_at=now, stage_changed_at=now))
            result.added.append(registrant_id)
    session.flush()
    for registrant_id in result.added:
        _write_correspondence(session, actor, posting, registrant_id, None, CandidateStage.PROPOSED.value, None, ip)
    audit.record(session, actor, "matching.propose", f"posting:{posting.id}",
                 {"added": result.added, "already": len(result.already), "refused": len(result.refused)}, ip)
    return result


def counts_by_stage(session: Session, posting_id: int) -> dict[str, int]:
    counts = dict.fromkeys(STAGES, 0)
    for stage, n in session.execute(sa.select(MatchCandidate.stage, sa.func.count())
                                    .where(MatchCandidate.posting_id == posting_id).group_by(MatchCandidate.stage)):
        counts[stage] = n
    return counts


def candidates(session: Session, posting_id: int) -> list[tuple[MatchCandidate, Registrant]]:
    """The pipeline of a posting in stage order, then by score (best first) and id."""
    order = sa.case({stage: index for index, stage in enumerate(STAGES)}, value=MatchCandidate.stage, else_=99)
    rows = session.execute(sa.select(MatchCandidate, Registrant).join(Registrant,
                                                                      Registrant.id == MatchCandidate.registrant_id)
                           .where(MatchCandidate.posting_id == posting_id)
                           .order_by(order, MatchCandidate.score.desc(), MatchCandidate.registrant_id)).all()
    return [(row[0], row[1]) for row in rows]


def has_hired(session: Session, posting_id: int) -> bool:
    return bool(session.scalar(sa.select(sa.func.count()).select_from(MatchCandidate).where(
        MatchCandidate.posting_id == posting_id, MatchCandidate.stage == CandidateStage.HIRED.value)))


def can_fill(session: Session, posting: JobPosting) -> bool:
    return posting.status == PostingStatus.OPEN.value and has_hired(session, posting.id)


def fill_posting(session: Session, actor: Any, posting: JobPosting, ip: str | None = None) -> None:
    """Mark an open posting filled (充足) once someone was hired. Audited; not committed."""
    if not can_fill(session, posting):
        raise PipelineError(_("募集中で、採用した候補者がいる求人だけを充足にできます。"))
    old = posting.status
    posting.status, posting.closed_at = PostingStatus.FILLED.value, utcnow()
    session.flush()
    audit.record(session, actor, "posting.status", f"posting:{posting.id}",
                 {"from": old, "to": posting.status, "via": "matching"}, ip)
