"""Record every produced file and every mail send in the output history, and in the audit chain.

Exporters write their file to a spooled temporary file (constant memory, whatever the row count),
hash it while writing, then call `record_output` and stream the file to the browser.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.outputs.models import OutputKind, OutputRecord

SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # larger files spill to a temporary file on disk


class HashingWriter:
    """A binary file that computes its SHA-256 while being written; rewind with `.file.seek(0)` to send it."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:  # zipfile (openpyxl) flushes its target
        self.file.flush()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def rewound(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_output(session: Session, actor: Any, *, kind: OutputKind, title: str, filters: dict[str, Any],
                  row_count: int, filename: str | None, sha256: str | None, ip: str | None) -> OutputRecord:
    """Add one output-history row and its audit event (committed with the caller's transaction).

    `filters` describes what was selected (criteria, saved-search id, registrant ids): never names or
    addresses, since the history is itself exported.
    """
    entry = OutputRecord(kind=kind.value, title=title[:200], staff_id=getattr(actor, "id", None),
                         staff_name=getattr(actor, "display_name", "system")[:120],
                         filter_description=json.dumps(filters, ensure_ascii=False, sort_keys=True, default=str),
                         row_count=row_count, filename=filename, sha256=sha256)
    session.add(entry)
    session.flush()
    audit.record(session, actor, f"output.{kind.value}", f"output:{entry.id}",
                 {"title": entry.title, "rows": row_count, "sha256": sha256, "filename": filename}, ip)
    return entry


# --- browsing the history (S-A7) ----------------------------------------------------------------

KIND_LABELS = {OutputKind.MAIL.value: _l("メール送信"), OutputKind.CSV.value: "CSV", OutputKind.XLSX.value: "Excel",
               OutputKind.FORM.value: _l("様式"), OutputKind.REPORT.value: _l("帳票")}


def history_statement(*, kind: str | None = None, staff_id: int | None = None, created_from: Any = None,
                      created_to: Any = None) -> sa.Select[Any]:
    """Output-history rows matching the filters, newest first; dates are Tokyo calendar days, inclusive."""
    from datetime import timedelta

    from app.core.timeutil import tokyo_day_start_utc

    stmt = sa.select(OutputRecord)
    if kind:
        stmt = stmt.where(OutputRecord.kind == kind)
    if staff_id:
        stmt = stmt.where(OutputRecord.staff_id == staff_id)
    if created_from:
        stmt = stmt.where(OutputRecord.created_at >= tokyo_day_start_utc(created_from))
    if created_to:
        stmt = stmt.where(OutputRecord.created_at < tokyo_day_start_utc(created_to + timedelta(days=1)))
    return stmt.order_by(OutputRecord.created_at.desc(), OutputRecord.id.desc())


def output_staff(session: Session) -> list[tuple[int, str]]:
    """(staff id, the name they last produced output under) for everyone in the history."""
    rows = session.execute(sa.select(OutputRecord.staff_id, sa.func.max(OutputRecord.staff_name))
                           .where(OutputRecord.staff_id.is_not(None)).group_by(OutputRecord.staff_id))
    return sorted(((staff_id, name) for staff_id, name in rows), key=lambda pair: pair[1])


CRITERIA_LABELS = {"name": _l("氏名"), "text": _l("自由記述"), "age_min": _l("年齢(下限)"), "age_max": _l("年齢(上限)"),
                   "regions": _l("居住地域"), "licences": _l("免許"), "subjects": _l("教科"), "job_types": _l("希望職種"),
                   "school_types": _l("希望校種"), "tags": _l("タグ"), "statuses": _l("状態"), "registered_from": _l("登録日(から)"),
                   "registered_to": _l("登録日(まで)"), "not": _l("除く")}
FILTER_LABELS = {"criteria": _l("条件"), "columns": _l("列"), "sort": _l("並び順"), "selected": _l("選択行数"),
                 "saved_search_id": _l("保存した検索"), "registrant_ids": _l("登録者"), "kind": _l("種類"), "staff_id": _l("職員"),
                 "created_from": _l("期間(から)"), "created_to": _l("期間(まで)"),
                 "registrant_id": _l("登録者ID"), "era": _l("和暦"), "mail_campaign_id": _l("メール送信番号"),
                 "scheduled": _l("予約送信"), "report": _l("帳票"), "month": _l("対象月"), "fiscal_year": _l("年度"),
                 "survey_id": _l("アンケート番号"), "named": _l("記名式"), "event_id": _l("イベント番号"),
                 "event_ids": _l("イベント番号"), "message_id": _l("メッセージ番号"),
                 "pamphlet_text": _l("チラシの文面の版"), "url": _l("QRコードのURL")}


def summarise_filters(text: str, code_labels: dict[int, str]) -> str:
    """The stored filter description as one readable line (code ids shown by their labels)."""
    try:
        filters = json.loads(text or "{}")
    except ValueError:
        return text
    if not isinstance(filters, dict):
        return str(filters)
    parts = []
    for key, value in filters.items():
        if key == "criteria" and isinstance(value, dict):
            value = _summarise_criteria(value, code_labels) or str(_l("すべて"))
        elif key == "sort" and isinstance(value, str):
            value = _sort_label(value)
        elif key == "columns" and isinstance(value, list):
            from app.searches.columns import COLUMNS

            value = "、".join(str(COLUMNS[item].label) if item in COLUMNS else str(item) for item in value)
        elif isinstance(value, list):
            value = "、".join(str(item) for item in value[:20]) + ("…" if len(value) > 20 else "")
        elif isinstance(value, bool):
            value = _l("はい") if value else _l("いいえ")
        parts.append(f"{FILTER_LABELS.get(key, key)}: {value}")
    return " / ".join(parts)


def _summarise_criteria(criteria: dict[str, Any], code_labels: dict[int, str]) -> str:
    parts = []
    for key, value in criteria.items():
        label = str(CRITERIA_LABELS.get(key, key))
        if key == "not" and isinstance(value, list):
            value = "、".join(str(CRITERIA_LABELS.get(item, item)) for item in value)
        elif key == "statuses" and isinstance(value, list):
            from app.core.templating import STATUS_LABELS

            value = "、".join(str(STATUS_LABELS.get(item, item)) for item in value)
        elif isinstance(value, list):
            value = "、".join(code_labels.get(item, str(item)) if isinstance(item, int) else str(item)
                             for item in value)
        parts.append(f"{label}={value}")
    return "、".join(parts)


def _sort_label(sort: str) -> str:
    from app.searches.columns import COLUMNS

    column = COLUMNS.get(sort.lstrip("-"))
    if column is None:
        return sort
    return f"{column.label}{_l('(降順)') if sort.startswith('-') else _l('(昇順)')}"
