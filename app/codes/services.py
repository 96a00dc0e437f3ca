"""Code-master maintenance (S-A11) and the two questions every form and record display asks of it.

`selectable` answers "what may be chosen today" (valid today and enabled, plus what a record already
has); `label_on` answers "what was this code called on that day" (a rename keeps the old label in
`code_label`, so a record dated before the rename shows the name of its time).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.codes.models import Code, CodeKind, CodeLabel
from app.core.timeutil import to_tokyo, tokyo_today

KIND_LABELS: dict[str, Any] = {
    CodeKind.REGION.value: _l("地域(離島を含む市町村)"),
    CodeKind.SCHOOL_TYPE.value: _l("校種"),
    CodeKind.SUBJECT.value: _l("教科"),
    CodeKind.LICENCE.value: _l("免許"),
    CodeKind.JOB_TYPE.value: _l("職種"),
    CodeKind.CORRESPONDENCE_CHANNEL.value: _l("対応手段"),
    CodeKind.EMPLOYMENT_TYPE.value: _l("任用形態"),
    CodeKind.TAG.value: _l("タグ"),
    CodeKind.ARTICLE_CATEGORY.value: _l("記事の分類"),
}
CODE_VALUE = re.compile(r"[A-Za-z0-9_\-]{1,32}")
ORDER_STEP = 10


class CodeStatus(enum.StrEnum):
    ACTIVE = "active"  # 有効
    UPCOMING = "upcoming"  # 開始前
    ENDED = "ended"  # 終了


STATUS_LABELS = {CodeStatus.ACTIVE: _l("有効"), CodeStatus.UPCOMING: _l("開始前"), CodeStatus.ENDED: _l("終了")}


class CodeError(Exception):
    """A code change was refused; `messages` say why, in the user's language."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages



def _day(value: date | datetime | None) -> date | None:
    """A record's date: a stored timestamp (naive UTC) counts as the Tokyo calendar day it fell on."""
    if isinstance(value, datetime):
        return to_tokyo(value).date()  # type: ignore[union-attr]
    return value


# --- what may be chosen, what a code was called ---------------------------------------------------

def valid_on(day: date) -> Any:
    """SQL condition: the code is enabled and its validity period includes `day`."""
    return sa.and_(Code.is_active.is_(True),
                   sa.or_(Code.valid_from.is_(None), Code.valid_from <= day),
                   sa.or_(Code.valid_to.is_(None), Code.valid_to >= day))


def selectable(session: Session, kind: str | CodeKind, today: date | None = None,
               keep_ids: Iterable[int | None] = ()) -> list[Code]:
    """Codes of one kind that may be chosen today, in master order, plus `keep_ids` (codes a record
    already has, so editing it never silently drops a retired code)."""
    kind_value = kind.value if isinstance(kind, CodeKind) else kind
    keep = sorted({code_id for code_id in keep_ids if code_id})
    condition = valid_on(today or tokyo_today())
    if keep:
        condition = sa.or_(condition, Code.id.in_(keep))
    stmt = sa.select(Code).where(Code.kind == kind_value, condition).order_by(Code.sort_order, Code.id)
    return list(session.scalars(stmt))


def status_of(code: Code, today: date | None = None) -> CodeStatus:
    today = today or tokyo_today()
    if not code.is_active or (code.valid_to is not None and today > code.valid_to):
        return CodeStatus.ENDED
    if code.valid_from is not None and today < code.valid_from:
        return CodeStatus.UPCOMING
    return CodeStatus.ACTIVE


def label_history(session: Session, code_ids: Iterable[int]) -> dict[int, list[CodeLabel]]:
    ids = sorted(set(code_ids))
    history: dict[int, list[CodeLabel]] = {code_id: [] for code_id in ids}
    if ids:
        rows = session.scalars(sa.select(CodeLabel).where(CodeLabel.code_id.in_(ids))
                               .order_by(CodeLabel.valid_to, CodeLabel.id))
        for row in rows:
            history[row.code_id].append(row)
    return history


def label_from(code: Code, history: list[CodeLabel], day: date | datetime | None, english: bool = False) -> str:
    """The label `code` carried on `day`, given its rename history (oldest first)."""
    on = _day(day)
    if on is not None:
        for old in history:
            if old.valid_to >= on and (old.valid_from is None or old.valid_from <= on):
                return (old.label_en or old.label) if english else old.label
    return (code.label_en or code.label) if english else code.label


def label_on(session: Session, code: Code | None, day: date | datetime | None, english: bool = False) -> str:
    """The label that applied to `code` on `day` (a date, or a stored UTC timestamp); "" for no code."""
    if code is None:
        return ""
    return label_from(code, label_history(session, [code.id])[code.id], day, english)


# --- maintenance ------------------------------------------------------------------------------------

def codes_of_kind(session: Session, kind: str) -> list[Code]:
    return list(session.scalars(sa.select(Code).where(Code.kind == kind).order_by(Code.sort_order, Code.id)))


def _period_problems(valid_from: date | None, valid_to: date | None) -> list[str]:
    if valid_from and valid_to and valid_to < valid_from:
        return [str(_l("有効期間の終了日は開始日以降にしてください。"))]
    return []


def add_code(session: Session, actor: Any, *, kind: str, code: str, label: str, label_en: str | None = None,
             valid_from: date | None = None, valid_to: date | None = None, ip: str | None = None) -> Code:
    """A new code at the end of its list. Audited and committed."""
    problems = []
    if kind not in KIND_LABELS:
        problems.append(str(_l("コード種別が正しくありません。")))
    if not CODE_VALUE.fullmatch(code):
        problems.append(str(_l("コード値は半角英数字・ハイフン・アンダースコアの32文字以内にしてください。")))
    elif session.scalar(sa.select(Code.id).where(Code.kind == kind, Code.code == code)) is not None:
        problems.append(str(_l("このコード値はすでに使われています。")))
    problems += _period_problems(valid_from, valid_to)
    if problems:
        raise CodeError(problems)
    last = session.scalar(sa.select(sa.func.max(Code.sort_order)).where(Code.kind == kind)) or 0
    row = Code(kind=kind, code=code, label=label, label_en=label_en or None, sort_order=last + ORDER_STEP,
               valid_from=valid_from, valid_to=valid_to)
    session.add(row)
    session.flush()
    audit.record(session, actor, "code.create", f"code:{row.id}", {"kind": kind, "code": code}, ip)
    session.commit()
    return row


def update_code(session: Session, actor: Any, row: Code, *, label: str, label_en: str | None,
                renamed_on: date | None, valid_from: date | None, valid_to: date | None,
                ip: str | None = None) -> list[str]:
    """Change label and validity period. A new label applies from `renamed_on`; the old one is kept
    for the days before. Returns the names of what changed; audited and committed."""
    today = tokyo_today()
    renamed_on = renamed_on or today
    label_en = label_en or None
    renamed = (label, label_en) != (row.label, row.label_en)
    problems = _period_problems(valid_from, valid_to)
    history = label_history(session, [row.id])[row.id]
    if renamed:
        if renamed_on > today:
            problems.append(str(_l("名称の適用日は今日以前の日付にしてください。")))
        elif history and renamed_on <= history[-1].valid_to + timedelta(days=1):
            problems.append(str(_l("名称の適用日は、前回の名称変更(%(day)s)より後の日付にしてください。",
                                   day=(history[-1].valid_to + timedelta(days=1)).isoformat())))
    if problems:
        raise CodeError(problems)
    changed = []
    if renamed:
        started = history[-1].valid_to + timedelta(days=1) if history else None
        session.add(CodeLabel(code_id=row.id, label=row.label, label_en=row.label_en, valid_from=started,
                              valid_to=renamed_on - timedelta(days=1)))
        row.label, row.label_en = label, label_en
        changed.append("label")
    if (valid_from, valid_to) != (row.valid_from, row.valid_to):
        row.valid_from, row.valid_to = valid_from, valid_to
        changed.append("period")
    if changed:
        audit.record(session, actor, "code.rename" if renamed else "code.update", f"code:{row.id}",
                     {"kind": row.kind, "code": row.code, "changed": changed,
                      "renamed_on": renamed_on.isoformat() if renamed else None}, ip)
        session.commit()
    return changed


def retire(session: Session, actor: Any, row: Code, last_day: date | None = None, ip: str | None = None) -> None:
    """End the code's validity (yesterday by default): no longer offered, still shown on old records."""
    last_day = last_day or tokyo_today() - timedelta(days=1)
    row.valid_to = last_day
    audit.record(session, actor, "code.retire", f"code:{row.id}",
                 {"kind": row.kind, "code": row.code, "valid_to": last_day.isoformat()}, ip)
    session.commit()


def move(session: Session, actor: Any, row: Code, direction: str, ip: str | None = None) -> bool:
    """Swap the code with its neighbour above ("up") or below ("down"). False at either end."""
    siblings = codes_of_kind(session, row.kind)
    index = siblings.index(row)
    other = index - 1 if direction == "up" else index + 1
    if direction not in {"up", "down"} or not 0 <= other < len(siblings):
        return False
    siblings[index], siblings[other] = siblings[other], siblings[index]
    for position, code in enumerate(siblings, start=1):  # renumber: equal or gapless orders are fixed on the way
        code.sort_order = position * ORDER_STEP
    audit.record(session, actor, "code.move", f"code:{row.id}",
                 {"kind": row.kind, "code": row.code, "direction": direction}, ip)
    session.commit()
    return True
