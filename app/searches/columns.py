"""The columns staff can show and export for a registrant search, in the order they choose.

A column's value is computed from the Registrant row plus the code labels attached to it
(`RowCodes`, loaded per page or per export chunk in one query), so no column triggers a query per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.codes.models import Code
from app.core.templating import STATUS_LABELS
from app.core.timeutil import to_tokyo
from app.registrants.models import Registrant, registrant_code

# kind -> labels, plus "region" -> [label] for the region column
RowCodes = dict[str, list[str]]


@dataclass(frozen=True)
class Column:
    label: Any  # lazy Japanese msgid
    value: Callable[[Registrant, RowCodes], Any]
    sort: Any = None  # SQL expression(s) to order by, or None when the column cannot be sorted
    reverse: bool = False  # ascending on screen means descending in SQL (age: youngest first = latest birth date)


def _age(registrant: Registrant, _codes: RowCodes) -> int | None:
    from app.searches.services import today_tokyo

    born = registrant.birth_date
    if born is None:
        return None
    today = today_tokyo()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _joined(kind: str) -> Callable[[Registrant, RowCodes], str]:
    return lambda _registrant, codes: "、".join(codes.get(kind, []))


def _registered_day(registrant: Registrant, _codes: RowCodes) -> date | None:
    moment = to_tokyo(registrant.registered_at)
    return moment.date() if moment else None


def _yes_no(flag: bool) -> str:
    return str(_l("あり")) if flag else str(_l("なし"))


_KANA_ORDER = (Registrant.family_name_kana, Registrant.given_name_kana)  # names sort in reading order (五十音)

COLUMNS: dict[str, Column] = {
    "id": Column(_l("登録者ID"), lambda r, _c: r.id, Registrant.id),
    "name": Column(_l("氏名"), lambda r, _c: r.full_name, _KANA_ORDER),
    "kana": Column(_l("フリガナ"), lambda r, _c: r.full_name_kana, _KANA_ORDER),
    "age": Column(_l("年齢"), _age, Registrant.birth_date, reverse=True),
    "birth_date": Column(_l("生年月日"), lambda r, _c: r.birth_date, Registrant.birth_date),
    "email": Column(_l("メールアドレス"), lambda r, _c: r.email, Registrant.email),
    "phone": Column(_l("電話番号"), lambda r, _c: r.phone or ""),
    "postal_code": Column(_l("郵便番号"), lambda r, _c: r.postal_code or ""),
    "address": Column(_l("住所"), lambda r, _c: r.address or ""),
    "region": Column(_l("居住地域"), _joined("region"), Code.sort_order),
    "licences": Column(_l("免許"), _joined("licence")),
    "subjects": Column(_l("教科"), _joined("subject")),
    "job_types": Column(_l("希望職種"), _joined("job_type")),
    "school_types": Column(_l("希望校種"), _joined("school_type")),
    "tags": Column(_l("タグ"), _joined("tag")),
    "status": Column(_l("状態"), lambda r, _c: str(STATUS_LABELS.get(r.status, r.status)), Registrant.status),
    "registered_at": Column(_l("登録日"), _registered_day, Registrant.registered_at),
    "valid_until": Column(_l("有効期限"), lambda r, _c: r.valid_until, Registrant.valid_until),
    "available_from": Column(_l("勤務可能日"), lambda r, _c: r.available_from, Registrant.available_from),
    "former_department": Column(_l("退職時の所属"), lambda r, _c: r.former_department or ""),
    "left_year": Column(_l("退職年度"), lambda r, _c: r.left_year, Registrant.left_year),
    "mail_consent": Column(_l("メール受信同意"), lambda r, _c: _yes_no(r.mail_consent)),
}
DEFAULT_COLUMNS = ["name", "kana", "age", "region", "licences", "status", "registered_at"]
MAX_COLUMNS = len(COLUMNS)


def parse_columns(text: str | Iterable[str] | None) -> list[str]:
    """Column keys from "name,age,…" (or a list), in that order; default when empty; SearchError if unknown."""
    from app.searches.services import SearchError

    if text is None or text == "":
        return list(DEFAULT_COLUMNS)
    parts = text.split(",") if isinstance(text, str) else list(text)
    keys: list[str] = []
    for part in parts:
        key = str(part).strip()
        if not key:
            continue
        if key not in COLUMNS:
            raise SearchError(str(_l("指定された表示列は使えません。")))
        if key not in keys:
            keys.append(key)
    if len(keys) > MAX_COLUMNS:
        raise SearchError(str(_l("指定された表示列は使えません。")))
    return keys or list(DEFAULT_COLUMNS)


def needs_codes(columns: Iterable[str]) -> bool:
    return any(key in {"region", "licences", "subjects", "job_types", "school_types", "tags"} for key in columns)


def code_labels(session: Session) -> dict[int, tuple[str, str, int]]:
    """Every code as id -> (kind, label, sort order); the master is small, so it is loaded once per request."""
    rows = session.execute(sa.select(Code.id, Code.kind, Code.label, Code.sort_order))
    return {row.id: (row.kind, row.label, row.sort_order) for row in rows}


def codes_for(session: Session, registrants: list[Registrant],
              labels: dict[int, tuple[str, str, int]]) -> dict[int, RowCodes]:
    """The code labels of these registrants (one query), grouped by kind, in master order."""
    ids = [registrant.id for registrant in registrants]
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    if ids:
        pairs = session.execute(sa.select(registrant_code.c.registrant_id, registrant_code.c.code_id)
                                .where(registrant_code.c.registrant_id.in_(ids)))
        for registrant_id, code_id in pairs:
            if code_id in labels:
                kind, label, order = labels[code_id]
                found[registrant_id].append((order, kind, label))
    result: dict[int, RowCodes] = {}
    for registrant in registrants:
        grouped: RowCodes = defaultdict(list)
        for _order, kind, label in sorted(found.get(registrant.id, [])):
            grouped[kind].append(label)
        if registrant.region_id in labels:
            grouped["region"] = [labels[registrant.region_id][1]]
        result[registrant.id] = grouped
    return result


def row_values(columns: list[str], registrant: Registrant, codes: RowCodes) -> list[Any]:
    return [COLUMNS[key].value(registrant, codes) for key in columns]
