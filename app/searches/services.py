"""Registrant search on indexed SQL (S-A2). The one place that turns criteria into a SELECT.

Mail (a saved search or the current criteria as audience), exports and reports all call
`matching_ids` / `search_statement`, so every consumer sees exactly the rows on screen.

Criteria are a plain dict (stored as JSON in SavedSearch.criteria); a missing key is no condition:
  name, text: str; age_min, age_max: int; registered_from, registered_to: "YYYY-MM-DD" (Tokyo days);
  regions, licences, subjects, job_types, school_types, tags: [code ids]; statuses: [status strings];
  not: [keys whose condition is negated: a list key, or "name", "age", "registered", "text"].
A list criterion matches anyone having at least one of the codes; negated, anyone having none of them.
A negated condition also matches people for whom the value is unknown (no region, no birth date).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app import audit
from app.codes.models import Code, CodeKind
from app.core.timeutil import TOKYO, tokyo_day_start_utc
from app.registrants.models import Registrant, RegistrantStatus, registrant_code
from app.registrants.normalise import search_key
from app.searches.models import SavedSearch

# criteria key -> the code kind its ids belong to (region is a column, the others go through registrant_code)
CODE_CRITERIA = {
    "regions": CodeKind.REGION.value,
    "licences": CodeKind.LICENCE.value,
    "subjects": CodeKind.SUBJECT.value,
    "job_types": CodeKind.JOB_TYPE.value,
    "school_types": CodeKind.SCHOOL_TYPE.value,
    "tags": CodeKind.TAG.value,
}
LIST_CRITERIA = (*CODE_CRITERIA, "statuses")
NEGATABLE = ("name", "age", *LIST_CRITERIA, "registered", "text")
TEXT_MAX = 100
MAX_WORDS = 10
MAX_LIST = 200
MAX_AGE = 150
MAX_ID = 2**31 - 1
DEFAULT_SORT = "-registered_at"


class SearchError(ValueError):
    """Criteria that cannot be used; the message is shown to the user as is (Japanese first)."""


# --- parsing ------------------------------------------------------------------------------------

def criteria_from_args(args: MultiDict[str, str]) -> dict[str, Any]:
    """The criteria in request query args (the search page's own parameter names); unknown keys ignored."""
    raw: dict[str, Any] = {}
    for key in ("name", "text", "age_min", "age_max", "registered_from", "registered_to"):
        value = (args.get(key) or "").strip()
        if value:
            raw[key] = value
    for key in (*LIST_CRITERIA, "not"):
        values = [value.strip() for value in args.getlist(key) if value.strip()]
        if values:
            raw[key] = values
    return clean_criteria(raw)


def clean_criteria(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a criteria dict (from args, a saved search or another module) into its canonical form."""
    if not isinstance(raw, dict):
        raise SearchError(str(_l("検索条件の形式が正しくありません。")))
    criteria: dict[str, Any] = {}
    for key in ("name", "text"):
        if raw.get(key) not in (None, ""):
            criteria[key] = _text(raw[key])
    for key in ("age_min", "age_max"):
        if raw.get(key) not in (None, ""):
            criteria[key] = _age(raw[key])
    if "age_min" in criteria and "age_max" in criteria and criteria["age_min"] > criteria["age_max"]:
        raise SearchError(str(_l("年齢の下限が上限より大きくなっています。")))
    for key in ("registered_from", "registered_to"):
        if raw.get(key) not in (None, ""):
            criteria[key] = _day(raw[key]).isoformat()
    if criteria.get("registered_from", "") > criteria.get("registered_to", "9999"):
        raise SearchError(str(_l("登録期間の開始日が終了日より後になっています。")))
    for key in CODE_CRITERIA:
        if raw.get(key):
            criteria[key] = _ids(raw[key])
    if raw.get("statuses"):
        criteria["statuses"] = _statuses(raw["statuses"])
    negated = _negated(raw.get("not") or [])
    present = {_condition_of(key) for key in criteria}
    negated = [key for key in negated if key in present]
    if negated:
        criteria["not"] = negated
    return criteria


def criteria_from_json(text: str) -> dict[str, Any]:
    try:
        return clean_criteria(json.loads(text or "{}"))
    except json.JSONDecodeError:
        raise SearchError(str(_l("保存された検索条件を読み取れません。"))) from None


def _condition_of(key: str) -> str:
    """The negatable condition a criteria key belongs to (age_min and age_max form one condition)."""
    if key.startswith("age_"):
        return "age"
    if key.startswith("registered_"):
        return "registered"
    return key


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise SearchError(str(_l("検索語の形式が正しくありません。")))
    value = value.strip()
    if len(value) > TEXT_MAX:
        raise SearchError(str(_l("検索語は%(max)d文字以内で入力してください。", max=TEXT_MAX)))
    if any(ord(ch) < 32 and ch not in "\t" for ch in value) or "\ufffd" in value:
        raise SearchError(str(_l("検索語に使用できない文字が含まれています。")))
    if len(value.split()) > MAX_WORDS:
        raise SearchError(str(_l("検索語は%(max)d語までにしてください。", max=MAX_WORDS)))
    return value


def _int(value: Any, message: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise SearchError(message)
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 10:
            raise SearchError(message)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SearchError(message) from None
    if not low <= number <= high:
        raise SearchError(message)
    return number


def _age(value: Any) -> int:
    return _int(value, str(_l("年齢は0から%(max)dまでの数字で指定してください。", max=MAX_AGE)), 0, MAX_AGE)


def _day(value: Any) -> date:
    try:
        day = date.fromisoformat(str(value).strip())
    except ValueError:
        raise SearchError(str(_l("登録期間の日付は 2026-04-01 の形式で指定してください。"))) from None
    if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
        raise SearchError(str(_l("登録期間の日付が範囲外です。")))
    return day


def _ids(values: Any) -> list[int]:
    if not isinstance(values, list | tuple) or len(values) > MAX_LIST:
        raise SearchError(str(_l("選択肢の指定が正しくありません。")))
    message = str(_l("選択肢の指定が正しくありません(画面から選び直してください)。"))
    return sorted({_int(value, message, 1, MAX_ID) for value in values})


def _statuses(values: Any) -> list[str]:
    allowed = {status.value for status in RegistrantStatus}
    if not isinstance(values, list | tuple) or any(value not in allowed for value in values):
        raise SearchError(str(_l("状態の指定が正しくありません。")))
    return sorted(set(values))


def _negated(values: Any) -> list[str]:
    if not isinstance(values, list | tuple) or any(value not in NEGATABLE for value in values):
        raise SearchError(str(_l("「除く」の指定が正しくありません。")))
    return [key for key in NEGATABLE if key in values]


# --- SQL ----------------------------------------------------------------------------------------

def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, word: str) -> Any:
    return column.like(f"%{_escape_like(word)}%", escape="\\")


def _years_before(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February in a non-leap year
        return today.replace(year=today.year - years, day=28)


def today_tokyo() -> date:
    return datetime.now(TOKYO).date()


def _has_code(ids: list[int]) -> Any:
    return sa.exists().where(registrant_code.c.registrant_id == Registrant.id, registrant_code.c.code_id.in_(ids))


def _conditions(criteria: dict[str, Any]) -> list[Any]:
    """One SQL condition per criterion; negated ones count an unknown value (NULL) as 'not matching'."""
    negated = set(criteria.get("not", []))
    conditions: list[Any] = []

    def add(key: str, positive: Any, negative: Any) -> None:
        conditions.append(negative if key in negated else positive)

    if name := criteria.get("name"):
        words = [search_key(word) for word in name.split() if search_key(word)]
        if words:
            match = sa.and_(*[_contains(Registrant.search_text, word) for word in words])
            add("name", match, sa.not_(match))
    if "age_min" in criteria or "age_max" in criteria:
        today = today_tokyo()
        bounds = []
        if "age_min" in criteria:  # at least N years old: born on or before today N years ago
            bounds.append(Registrant.birth_date <= _years_before(today, criteria["age_min"]))
        if "age_max" in criteria:  # at most N: born after today N+1 years ago
            bounds.append(Registrant.birth_date > _years_before(today, criteria["age_max"] + 1))
        in_range = sa.and_(*bounds)
        add("age", in_range, sa.or_(Registrant.birth_date.is_(None), sa.not_(in_range)))
    if regions := criteria.get("regions"):
        add("regions", Registrant.region_id.in_(regions),
            sa.or_(Registrant.region_id.is_(None), Registrant.region_id.not_in(regions)))
    for key in ("licences", "subjects", "job_types", "school_types", "tags"):
        if ids := criteria.get(key):
            add(key, _has_code(ids), sa.not_(_has_code(ids)))
    if statuses := criteria.get("statuses"):
        add("statuses", Registrant.status.in_(statuses), Registrant.status.not_in(statuses))
    if "registered_from" in criteria or "registered_to" in criteria:
        bounds = []
        if start := criteria.get("registered_from"):
            bounds.append(Registrant.registered_at >= tokyo_day_start_utc(date.fromisoformat(start)))
        if end := criteria.get("registered_to"):
            next_day = date.fromordinal(date.fromisoformat(end).toordinal() + 1)
            bounds.append(Registrant.registered_at < tokyo_day_start_utc(next_day))
        period = sa.and_(*bounds)
        add("registered", period, sa.not_(period))
    if text := criteria.get("text"):
        fields = [sa.func.coalesce(column, "") for column in (Registrant.career_note, Registrant.interests,
                                                                 Registrant.availability_note,
                                                                 Registrant.former_department)]
        match = sa.and_(*[sa.or_(*[_contains(field, word) for field in fields]) for word in text.split()])
        add("text", match, sa.not_(match))
    return conditions


def matching_ids(session: Session | None, criteria: dict[str, Any]) -> sa.Select[Any]:
    """A SELECT of registrant ids matching `criteria` (the dict form stored in SavedSearch.criteria)."""
    del session  # pure SQL; kept in the signature so callers need not change if lookups become necessary
    return sa.select(Registrant.id).where(*_conditions(clean_criteria(criteria)))


def sort_key(sort: str) -> tuple[str, bool]:
    """('column key', descending) for a sort string such as '-registered_at'; SearchError if unknown."""
    from app.searches.columns import COLUMNS

    sort = (sort or DEFAULT_SORT).strip()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = COLUMNS.get(key)
    if column is None or column.sort is None or len(sort) > 40:
        raise SearchError(str(_l("指定された並び順は使えません。")))
    return key, descending


def search_statement(criteria: dict[str, Any], sort: str = "") -> sa.Select[Any]:
    """A SELECT of Registrant rows matching `criteria`, in the requested order (id breaks ties)."""
    from app.searches.columns import COLUMNS

    key, descending = sort_key(sort)
    column = COLUMNS[key]
    expressions = column.sort if isinstance(column.sort, tuple) else (column.sort,)
    sql_descending = descending != column.reverse
    order = [expression.desc() if sql_descending else expression.asc() for expression in expressions]
    stmt = sa.select(Registrant).where(*_conditions(clean_criteria(criteria)))
    if key == "region":
        stmt = stmt.outerjoin(Code, Code.id == Registrant.region_id)
    if key != "id":
        order.append(Registrant.id.desc() if descending else Registrant.id.asc())
    return stmt.order_by(*order)


def count_matching(session: Session, criteria: dict[str, Any]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(matching_ids(session, criteria).subquery())) or 0


# --- saved searches -----------------------------------------------------------------------------

def visible_saved_search(session: Session, staff: Any, saved_search_id: int | str | None) -> SavedSearch | None:
    """The saved search if `staff` owns it or it is shared; None otherwise (also for junk ids)."""
    try:
        wanted = int(saved_search_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not 0 < wanted <= MAX_ID:
        return None
    saved = session.get(SavedSearch, wanted)
    if saved is None:
        return None
    if saved.is_shared or saved.owner_id == getattr(staff, "id", None):
        return saved
    return None


# --- description --------------------------------------------------------------------------------

def describe(criteria: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe description for output history and audit: typed words could be names, so they are hidden."""
    description: dict[str, Any] = {}
    for key, value in criteria.items():
        if key in ("name", "text"):
            description[key] = "(指定あり)"
        elif isinstance(value, list | tuple):
            description[key] = list(value)
        elif isinstance(value, int | str):
            description[key] = value
    return description


def save_search(session: Session, staff: Any, *, name: str, criteria: dict[str, Any], columns: list[str],
                sort: str, shared: bool, ip: str | None) -> SavedSearch:
    """Save (a new name) for `staff`; SearchError if the staff already has a search of that name."""
    name = name.strip()
    _require_free_name(session, staff, name)
    saved = SavedSearch(name=name, owner_id=staff.id, is_shared=shared, sort=sort or DEFAULT_SORT,
                        criteria=json.dumps(clean_criteria(criteria), ensure_ascii=False, sort_keys=True),
                        columns=",".join(columns))
    session.add(saved)
    session.flush()
    audit.record(session, staff, "search.save", f"saved_search:{saved.id}",
                 {"criteria": describe(criteria), "shared": shared}, ip)
    return saved


def _require_free_name(session: Session, staff: Any, name: str, keep_id: int | None = None) -> None:
    clash = session.scalar(sa.select(SavedSearch.id).where(SavedSearch.owner_id == staff.id, SavedSearch.name == name))
    if clash is not None and clash != keep_id:
        raise SearchError(str(_l("同じ名前の保存検索がすでにあります。別の名前にしてください。")))


def rename_search(session: Session, staff: Any, saved: SavedSearch, name: str, ip: str | None) -> None:
    name = name.strip()
    _require_free_name(session, staff, name, keep_id=saved.id)
    saved.name = name
    audit.record(session, staff, "search.rename", f"saved_search:{saved.id}", {}, ip)


def share_search(session: Session, staff: Any, saved: SavedSearch, shared: bool, ip: str | None) -> None:
    saved.is_shared = shared
    audit.record(session, staff, "search.share" if shared else "search.unshare", f"saved_search:{saved.id}", {}, ip)


def delete_search(session: Session, staff: Any, saved: SavedSearch, ip: str | None) -> None:
    audit.record(session, staff, "search.delete", f"saved_search:{saved.id}",
                 {"owner_id": saved.owner_id, "shared": saved.is_shared}, ip)
    session.delete(saved)


def saved_searches(session: Session, staff: Any) -> tuple[list[SavedSearch], list[SavedSearch]]:
    """(the staff's own searches, searches others have shared), each by name."""
    own = session.scalars(sa.select(SavedSearch).where(SavedSearch.owner_id == staff.id)
                          .order_by(SavedSearch.name)).all()
    shared = session.scalars(sa.select(SavedSearch)
                             .where(SavedSearch.is_shared.is_(True),
                                    sa.or_(SavedSearch.owner_id.is_(None), SavedSearch.owner_id != staff.id))
                             .order_by(SavedSearch.name)).all()
    return list(own), list(shared)


def search_args(criteria: dict[str, Any], columns: list[str] | None = None, sort: str = "",
                per_page: int | None = None) -> dict[str, Any]:
    """Query args (for url_for) that reproduce this search: the inverse of `criteria_from_args`."""
    from app.searches.columns import DEFAULT_COLUMNS

    args: dict[str, Any] = {}
    for key, value in criteria.items():
        args[key] = [str(item) for item in value] if isinstance(value, list) else str(value)
    if columns and columns != DEFAULT_COLUMNS:
        args["columns"] = ",".join(columns)
    if sort and sort != DEFAULT_SORT:
        args["sort"] = sort
    if per_page:
        args["per_page"] = str(per_page)
    return args
