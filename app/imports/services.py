"""CSV import of registrant records: decode, parse, map columns, preview, then commit the whole file or nothing.

The uploaded file is decoded once (UTF-8 with or without BOM, else Shift_JIS/CP932; anything else is
refused) and kept in `ImportBatch.content` until it is committed or discarded, so the preview and the
commit read the same text from the database and never trust anything a browser sends back.

Every row becomes an `IncomingRecord` and goes through `app.registrants.records`: `validate` for the
preview, `apply_record` for the commit — the same path the e-application sync uses. The preview predicts
what `apply_record` will do (create / update / unchanged / held as a duplicate candidate); the commit
re-checks inside its own transaction and applies every row in that one transaction, or none.

Row numbers are the ones a spreadsheet shows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import re
import socket
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.core.jpdate import DateFormatError, parse_date
from app.core.timeutil import TOKYO, tokyo_today, utcnow
from app.imports.models import ImportBatch, ImportMapping
from app.registrants import records
from app.registrants.accounts import send_invitation
from app.registrants.models import Registrant, RegistrantSource, RegistrantStatus
from app.registrants.normalise import clean, name_key
from app.staff.models import StaffUser
from app.sync.models import DuplicateCandidate, QuarantinedRecord, RunStatus, SyncRun

MAX_FILE_BYTES = 10 * 1024 * 1024
# The decoded text is stored in one LONGTEXT value; MariaDB's default max_allowed_packet is 16 MB.
MAX_STORED_BYTES = 15 * 1024 * 1024
MAX_ROWS = 50_000
STALE_AFTER = timedelta(days=7)  # an upload nobody committed or discarded is dropped after this long
SOURCE = RegistrantSource.IMPORT.value  # what registrants, quarantine and duplicate rows record
RUN_SOURCE = "csv"  # what the run history records

RECORD_ID, WITHDRAWN, UPDATED_AT = "record_id", "withdrawn", "updated_at"
EXTRA_TARGETS: dict[str, Any] = {
    RECORD_ID: _l("申請番号"),
    WITHDRAWN: _l("退会"),
    UPDATED_AT: _l("更新日時"),
}
REQUIRED_TARGETS = (RECORD_ID, *records.REQUIRED)

DEFAULT_MAPPING_NAME = "標準様式"
# The headers of the standard application form (and of the blank template), in template order.
DEFAULT_COLUMNS: dict[str, str] = {
    "申請番号": RECORD_ID,
    "氏": "family_name",
    "名": "given_name",
    "氏(カナ)": "family_name_kana",
    "名(カナ)": "given_name_kana",
    "生年月日": "birth_date",
    "メールアドレス": "email",
    "電話番号": "phone",
    "郵便番号": "postal_code",
    "住所": "address",
    "地域": "region",
    "免許・資格": "licences",
    "教科": "subjects",
    "希望職種": "job_types",
    "希望校種": "school_types",
    "勤務可能日": "available_from",
    "勤務条件の補足": "availability_note",
    "退職時の所属": "former_department",
    "退職年度": "left_year",
    "職歴・経歴": "career_note",
    "関心のある分野": "interests",
    "メール受信の同意": "mail_consent",
    "情報利用の同意": "data_use_consent",
    "同意した個人情報の取扱いの版": "privacy_notice_version",
    "退会": WITHDRAWN,
    "更新日時": UPDATED_AT,
}


class BatchStatus:
    PREVIEWED = "previewed"
    COMMITTING = "committing"  # only inside the commit's own transaction; never seen committed
    COMMITTED = "committed"
    DISCARDED = "discarded"


class ImportFileError(Exception):
    """The file cannot be read at all (encoding, size, CSV syntax); nothing was stored."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MappingError(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


class CommitRefused(Exception):
    """The commit did not happen; nothing was changed. `messages` say why, row by row."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


# progress(phase, done, total) with phase "check" (the preview) or "apply" (the commit)
Progress = Callable[[str, int, int], None] | None


def target_label(target: str) -> str:
    if target in records.FIELDS:
        return str(records.FIELDS[target][0])
    return str(EXTRA_TARGETS.get(target, target))


def target_choices() -> list[tuple[str, str]]:
    """Every field a CSV column can feed, required ones marked, in template order."""
    ordered = [RECORD_ID, *records.FIELDS, WITHDRAWN, UPDATED_AT]
    required = str(_l("(必須)"))
    return [(name, target_label(name) + (required if name in REQUIRED_TARGETS else "")) for name in ordered]


VALID_TARGETS = frozenset([RECORD_ID, WITHDRAWN, UPDATED_AT, *records.FIELDS])


# --- reading the file -------------------------------------------------------------------------------

_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\uf8f0-\uf8f3]")  # binary, UTF-16, or bytes CP932 lacks


def _encoding_error() -> ImportFileError:
    return ImportFileError(str(_l("文字コードを判定できません(UTF-8 または Shift_JIS で保存してください)")))


def _too_large() -> ImportFileError:
    return ImportFileError(str(_l("ファイルが大きすぎます(上限 %(mb)d MB)。ファイルを分けて取り込んでください。",
                                  mb=MAX_FILE_BYTES // (1024 * 1024))))


def decode(raw: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was in: utf-8-sig (BOM), utf-8 or cp932. Decided, never guessed.

    Strict UTF-8 first (a Shift_JIS file is practically never valid UTF-8), then strict CP932; text that
    decodes but holds control characters (UTF-16 without a BOM, binary files) is refused as well.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large()
    if not raw.strip():
        raise ImportFileError(str(_l("ファイルが空です。")))
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _encoding_error()
    for codec in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        text = text.rstrip("\x1a")  # the end-of-file mark of old DOS tools
        if _NOT_TEXT.search(text):
            raise _encoding_error()
        if len(text.encode("utf-8")) > MAX_STORED_BYTES:
            raise _too_large()
        if codec == "cp932":
            return text, "cp932"
        return text, "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
    raise _encoding_error()


ENCODING_LABELS = {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "cp932": "Shift_JIS (CP932)"}


@dataclass
class ParsedCsv:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells); blank rows are left out


def _reader(text: str) -> Any:
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def parse(text: str, progress: Progress = None) -> ParsedCsv:
    """Headers from row 1, then every non-blank row. Quoted fields may hold commas, quotes and line breaks."""
    reader = _reader(text)
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if headers is None:
                headers = [cell.strip() for cell in cells]
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(str(_l("行数が多すぎます(上限 %(n)s 行)。ファイルを分けて取り込んでください。",
                                             n=f"{MAX_ROWS:,}")))
            rows.append((number, cells))
    except csv.Error:
        raise ImportFileError(str(_l("CSVの形式が正しくありません(%(row)d行目付近)。"
                                     "引用符(\")の対応や区切りを確認してください。", row=number + 1))) from None
    if not headers or not any(headers):
        raise ImportFileError(str(_l("1行目に列名がありません。")))
    return ParsedCsv(headers, rows)


def read_headers(text: str) -> list[str]:
    try:
        return [cell.strip() for cell in next(_reader(text), [])]
    except csv.Error:
        return []


# --- column mappings --------------------------------------------------------------------------------

def header_key(header: str) -> str:
    """How headers are compared: NFKC (full-width brackets, half-width kana), no spaces, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", header)).lower()


def mapping_columns(mapping: ImportMapping | None) -> dict[str, str]:
    if mapping is None:
        return dict(DEFAULT_COLUMNS)
    try:
        stored = json.loads(mapping.columns)
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {str(k): str(v) for k, v in stored.items() if v in VALID_TARGETS}


def default_mapping(session: Session) -> ImportMapping:
    """The mapping for the standard form's headers, created the first time it is needed."""
    mapping = session.scalar(sa.select(ImportMapping).where(ImportMapping.name == DEFAULT_MAPPING_NAME))
    if mapping is None:
        mapping = ImportMapping(name=DEFAULT_MAPPING_NAME, columns=json.dumps(DEFAULT_COLUMNS, ensure_ascii=False))
        session.add(mapping)
        session.flush()
    return mapping


def list_mappings(session: Session) -> list[ImportMapping]:
    return list(session.scalars(sa.select(ImportMapping).order_by(ImportMapping.name)))


def choose_mapping(session: Session, headers: list[str], name: str | None = None) -> ImportMapping:
    """The named mapping, or the saved one that knows most of these headers (the standard one on a tie)."""
    if name:
        mapping = session.scalar(sa.select(ImportMapping).where(ImportMapping.name == name))
        if mapping is None:
            raise MappingError([str(_l("列の対応「%(name)s」は登録されていません。", name=name))])
        return mapping
    standard = default_mapping(session)
    keys = {header_key(h) for h in headers if h}

    def score(mapping: ImportMapping) -> tuple[int, int]:
        known = {header_key(h) for h in mapping_columns(mapping)}
        return len(keys & known), mapping.id == standard.id

    return max(list_mappings(session), key=score)


@dataclass
class ColumnPlan:
    targets: list[tuple[int, str, str]] = field(default_factory=list)  # (cell index, header, target)
    unmapped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def header_of(self, target: str) -> str:
        return next((header for _i, header, t in self.targets if t == target), "")


def plan_columns(headers: list[str], columns: dict[str, str]) -> ColumnPlan:
    lookup = {header_key(h): target for h, target in columns.items() if target in VALID_TARGETS}
    plan = ColumnPlan()
    seen_headers: set[str] = set()
    seen_targets: dict[str, str] = {}
    for index, header in enumerate(headers):
        key = header_key(header)
        if not key:
            continue
        if key in seen_headers:
            plan.problems.append(str(_l("列名「%(header)s」が複数あります。", header=header)))
            continue
        seen_headers.add(key)
        target = lookup.get(key)
        if target is None:
            plan.unmapped.append(header)
        elif target in seen_targets:
            plan.problems.append(str(_l("列「%(a)s」と列「%(b)s」が同じ項目「%(field)s」に対応しています。",
                                        a=seen_targets[target], b=header, field=target_label(target))))
        else:
            seen_targets[target] = header
            plan.targets.append((index, header, target))
    for target in REQUIRED_TARGETS:
        if target not in seen_targets:
            plan.problems.append(str(_l("必須の列「%(column)s」がありません", column=target_label(target))))
    return plan


def save_mapping(session: Session, actor: Any, name: str, columns: dict[str, str], ip: str | None = None
                 ) -> ImportMapping:
    """Create or replace the mapping called `name` ({csv header: target}); unmapped headers are left out."""
    name = clean(name)
    chosen = {header.strip(): target for header, target in columns.items() if header.strip() and target}
    problems: list[str] = []
    if not name:
        problems.append(str(_l("名称を入力してください。")))
    elif len(name) > 100:
        problems.append(str(_l("名称は100文字以内にしてください。")))
    if any(target not in VALID_TARGETS for target in chosen.values()):
        problems.append(str(_l("取込先の項目の値が正しくありません。")))
    counts = Counter(chosen.values())
    for target, count in counts.items():
        if count > 1 and target in VALID_TARGETS:
            problems.append(str(_l("項目「%(field)s」に複数の列が対応しています。", field=target_label(target))))
    for target in REQUIRED_TARGETS:
        if target not in counts:
            problems.append(str(_l("必須の項目「%(field)s」に対応する列を選んでください。", field=target_label(target))))
    if problems:
        raise MappingError(problems)
    mapping = session.scalar(sa.select(ImportMapping).where(ImportMapping.name == name))
    if mapping is None:
        mapping = ImportMapping(name=name, columns="{}")
        session.add(mapping)
    mapping.columns = json.dumps(chosen, ensure_ascii=False)
    mapping.updated_at = utcnow()
    session.flush()
    audit.record(session, actor, "import.mapping_save", f"import_mapping:{mapping.id}",
                 {"name": name, "columns": len(chosen)}, ip)
    return mapping


# --- preview --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # the CSV header; "" when it concerns the whole row
    message: str


DUPLICATE_REASONS = {
    "same_record_id": _l("同じ申請番号"),
    "same_email": _l("同じメールアドレス"),
    "same_name_birth_date": _l("同じ氏名・生年月日"),
}


@dataclass(frozen=True)
class DuplicateHint:
    row: int
    record_id: str
    reason: str
    other_row: int | None = None  # another row of this file
    registrant_id: int | None = None  # an existing registrant
    registrant_name: str = ""

    @property
    def reason_label(self) -> str:
        return str(DUPLICATE_REASONS.get(self.reason, self.reason))


class Action:
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"  # held as a duplicate candidate for staff to decide
    ERROR = "error"


@dataclass
class PlannedRow:
    row: int
    record: records.IncomingRecord
    action: str


@dataclass
class Preview:
    headers: list[str]
    columns: ColumnPlan
    file_errors: list[str] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)
    duplicates: list[DuplicateHint] = field(default_factory=list)
    planned: list[PlannedRow] = field(default_factory=list)
    data_rows: int = 0

    def count(self, action: str) -> int:
        return sum(1 for p in self.planned if p.action == action)

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.row_errors})

    @property
    def can_commit(self) -> bool:
        return not self.file_errors and not self.row_errors and bool(self.planned)

    def refusal(self, limit: int = 20) -> list[str]:
        """Why this file cannot be committed, row by row (at most `limit` rows listed)."""
        lines = list(self.file_errors)
        for error in self.row_errors[:limit]:
            column = f"「{error.column}」" if error.column else ""
            lines.append(str(_l("%(row)d行目%(column)s: %(message)s", row=error.row, column=column,
                                message=error.message)))
        if len(self.row_errors) > limit:
            lines.append(str(_l("ほか %(n)d 件のエラーがあります。", n=len(self.row_errors) - limit)))
        return lines


_YES = {"1", "true", "yes", "y", "はい", "○", "◯", "退会", "退会済", "取下げ", "取り下げ"}
_NO = {"", "0", "false", "no", "n", "いいえ", "×", "-"}


def _parse_withdrawn(raw: str) -> bool | None:
    text = clean(raw).lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None


def _parse_updated_at(raw: str) -> datetime | None:
    """A timestamp from the source system; without a zone it is Japan time. Stored as naive UTC."""
    text = clean(raw)
    if not text:
        return None
    moment: datetime | None = None
    for candidate in (text, text.replace("/", "-")):
        try:
            moment = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    if moment is None:
        date_part, _, time_part = text.partition(" ")
        day = parse_date(date_part)  # DateFormatError if this is no date either
        hours, minutes, seconds = ([*map(int, time_part.split(":")), 0, 0] if time_part else [0, 0, 0])[:3]
        moment = datetime(day.year, day.month, day.day, hours, minutes, seconds)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TOKYO)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _column_of(message: str, plan: ColumnPlan) -> str:
    """Which CSV column a validation message is about: the field whose label starts the message
    (the longest such label, so 「氏(カナ)がありません」 is about 氏(カナ), not 氏)."""
    best_header, best_length = "", 0
    for _index, header, target in plan.targets:
        label = target_label(target)
        if message.startswith(label) and len(label) > best_length:
            best_header, best_length = header, len(label)
    return best_header


def _to_record(row: int, cells: list[str], plan: ColumnPlan, width: int
               ) -> tuple[records.IncomingRecord, list[RowError]]:
    errors: list[RowError] = []
    if any(cell.strip() for cell in cells[width:]):
        errors.append(RowError(row, "", str(_l("列名のない列に値があります。"))))
    values = {target: (cells[index] if index < len(cells) else "") for index, _header, target in plan.targets}
    record_id = values.pop(RECORD_ID, "").strip()
    if not record_id:
        errors.append(RowError(row, plan.header_of(RECORD_ID), str(_l("%(field)sがありません",
                                                                       field=target_label(RECORD_ID)))))
    elif len(record_id) > 64:
        errors.append(RowError(row, plan.header_of(RECORD_ID), str(_l("%(field)sが長すぎます(%(n)d文字以内)",
                                                                       field=target_label(RECORD_ID), n=64))))
    withdrawn: bool | None = False
    if WITHDRAWN in values:
        withdrawn = _parse_withdrawn(values.pop(WITHDRAWN))
        if withdrawn is None:
            errors.append(RowError(row, plan.header_of(WITHDRAWN), str(_l("%(field)sは「はい」か「いいえ」で指定してください",
                                                                           field=target_label(WITHDRAWN)))))
    updated_at = None
    if UPDATED_AT in values:
        raw = values.pop(UPDATED_AT)
        try:
            updated_at = _parse_updated_at(raw)
        except (DateFormatError, ValueError, OverflowError):
            errors.append(RowError(row, plan.header_of(UPDATED_AT),
                                   str(_l("%(field)s「%(text)s」は日時として読めません(例: 2026-04-01 09:30)",
                                          field=target_label(UPDATED_AT), text=clean(raw)[:40]))))
    record = records.IncomingRecord(record_id=record_id, fields=values, source_updated_at=updated_at,
                                    withdrawn=bool(withdrawn))
    return record, errors


class _Existing:
    """What the preview needs to know about the registrants already in the database, loaded once."""

    def __init__(self, session: Session) -> None:
        self.by_record_id: dict[str, tuple[int, str | None]] = {}
        self.email_owner: dict[str, int] = {}
        self.people: set[tuple[str, date | None]] = set()
        rows = session.execute(sa.select(Registrant.id, Registrant.external_id, Registrant.source_hash,
                                         Registrant.email, Registrant.name_key, Registrant.birth_date,
                                         Registrant.status))
        for rid, external_id, source_hash, email, key, birth, status in rows:
            if external_id:
                self.by_record_id[external_id] = (rid, source_hash)
            self.email_owner[email.lower()] = rid
            if birth and status != RegistrantStatus.ANONYMISED.value:
                self.people.add((key, birth))


def build_preview(session: Session, parsed: ParsedCsv, columns: dict[str, str], progress: Progress = None
                  ) -> Preview:
    """What committing this file would do, row by row, without changing anything."""
    plan = plan_columns(parsed.headers, columns)
    preview = Preview(headers=parsed.headers, columns=plan, file_errors=list(plan.problems),
                      data_rows=len(parsed.rows))
    if not parsed.rows:
        preview.file_errors.append(str(_l("取り込むデータ行がありません。")))
    if preview.file_errors:
        return preview  # the columns must be right before rows can be judged
    existing = _Existing(session)
    codes = records.CodeBook(session)
    dismissed = set(session.scalars(sa.select(DuplicateCandidate.record_id)
                                    .where(DuplicateCandidate.status == "dismissed")))
    seen_ids: dict[str, int] = {}
    seen_emails: dict[str, tuple[int, str]] = {}
    seen_people: dict[tuple[str, date | None], tuple[int, str]] = {}
    width = len(parsed.headers)
    total = len(parsed.rows)
    for done, (row, cells) in enumerate(parsed.rows, start=1):
        record, errors = _to_record(row, cells, plan, width)
        action = _plan_row(session, preview, plan, codes, existing, dismissed, record, row, errors,
                           seen_ids, seen_emails, seen_people)
        preview.row_errors.extend(errors)
        preview.planned.append(PlannedRow(row, record, Action.ERROR if errors else action))
        if progress and (done % 500 == 0 or done == total):
            progress("check", done, total)
    return preview


def _plan_row(session: Session, preview: Preview, plan: ColumnPlan, codes: records.CodeBook, existing: _Existing,
              dismissed: set[str], record: records.IncomingRecord, row: int, errors: list[RowError],
              seen_ids: dict[str, int], seen_emails: dict[str, tuple[int, str]],
              seen_people: dict[tuple[str, date | None], tuple[int, str]]) -> str:
    """Predict what apply_record does with this row (mirrors its order of checks)."""
    rid = record.record_id
    if rid and rid in seen_ids:
        errors.append(RowError(row, plan.header_of(RECORD_ID),
                               str(_l("%(field)s「%(value)s」は%(other)d行目と重複しています",
                                      field=target_label(RECORD_ID), value=rid, other=seen_ids[rid]))))
        preview.duplicates.append(DuplicateHint(row, rid, "same_record_id", other_row=seen_ids[rid]))
        return Action.ERROR
    if rid:
        seen_ids[rid] = row
    known = existing.by_record_id.get(rid) if rid else None
    if known is not None and known[1] == record.fingerprint():
        return Action.UNCHANGED
    checked = records.validate(record.fields, codes)
    for message in checked.errors:
        errors.append(RowError(row, _column_of(message, plan), message))
    if errors:
        return Action.ERROR
    email = checked.values["email"].lower()
    person = (name_key(checked.values["family_name"] or "", checked.values["given_name"] or ""),
              checked.values["birth_date"])
    if known is not None:
        owner = existing.email_owner.get(email)
        in_file = seen_emails.get(email)
        if (owner is not None and owner != known[0]) or (in_file is not None and in_file[1] != rid):
            errors.append(RowError(row, plan.header_of("email"), str(_l("このメールアドレスは別の登録者が使用しています"))))
            return Action.ERROR
        action = Action.UPDATE
    else:
        action = _duplicate_check(session, preview, existing, dismissed, checked.values, rid, row, email, person,
                                  seen_emails, seen_people)
    if action in (Action.CREATE, Action.UPDATE):
        seen_emails.setdefault(email, (row, rid))
        if person[1]:
            seen_people.setdefault(person, (row, rid))
    return action


def _duplicate_check(session: Session, preview: Preview, existing: _Existing, dismissed: set[str],
                     values: dict[str, Any], rid: str, row: int, email: str, person: tuple[str, date | None],
                     seen_emails: dict[str, tuple[int, str]],
                     seen_people: dict[tuple[str, date | None], tuple[int, str]]) -> str:
    """A new record: held as a duplicate candidate if it looks like someone already there (in the DB or
    earlier in this file), by the rule `records.likely_duplicate` applies."""
    if email in seen_emails:
        preview.duplicates.append(DuplicateHint(row, rid, "same_email", other_row=seen_emails[email][0]))
        return Action.DUPLICATE
    if person[1] and rid not in dismissed and person in seen_people:
        preview.duplicates.append(DuplicateHint(row, rid, "same_name_birth_date",
                                                other_row=seen_people[person][0]))
        return Action.DUPLICATE
    if email in existing.email_owner or person in existing.people:
        match = records.likely_duplicate(session, values, rid)
        if match is not None:
            registrant, reason = match
            preview.duplicates.append(DuplicateHint(row, rid, reason, registrant_id=registrant.id,
                                                    registrant_name=registrant.full_name))
            return Action.DUPLICATE
    return Action.CREATE


def preview_batch(session: Session, batch: ImportBatch, progress: Progress = None) -> Preview:
    mapping = session.get(ImportMapping, batch.mapping_id) if batch.mapping_id else None
    return build_preview(session, parse(batch.content), mapping_columns(mapping), progress)


# --- batches: upload, change mapping, commit, discard ---------------------------------------------------

def _safe_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (base or "upload.csv")[:200]


def _actor_id(actor: Any) -> int | None:
    return actor.id if getattr(actor, "account_kind", None) == "staff" else None


def create_batch(session: Session, actor: Any, *, filename: str | None, raw: bytes, mapping_id: int | None = None,
                 mapping_name: str | None = None, ip: str | None = None, progress: Progress = None
                 ) -> tuple[ImportBatch, Preview]:
    """Store an uploaded file for preview (ImportFileError if it cannot be read; then nothing is stored)."""
    text, encoding = decode(raw)
    parsed = parse(text)
    mapping = session.get(ImportMapping, mapping_id) if mapping_id else None
    if mapping is None:
        mapping = choose_mapping(session, parsed.headers, mapping_name)
    preview = build_preview(session, parsed, mapping_columns(mapping), progress)
    batch = ImportBatch(filename=_safe_filename(filename), sha256=hashlib.sha256(raw).hexdigest(), encoding=encoding,
                        content=text, mapping_id=mapping.id, row_count=preview.data_rows,
                        error_count=preview.error_rows, status=BatchStatus.PREVIEWED, created_by=_actor_id(actor))
    session.add(batch)
    session.flush()
    audit.record(session, actor, "import.upload", f"import_batch:{batch.id}",
                 {"sha256": batch.sha256, "bytes": len(raw), "encoding": encoding, "rows": preview.data_rows,
                  "error_rows": preview.error_rows, "file_errors": len(preview.file_errors),
                  "mapping_id": mapping.id}, ip)
    _drop_stale(session)
    session.commit()
    return batch, preview


def _drop_stale(session: Session) -> None:
    """Uploads left unconfirmed for a week are discarded, so the personal data in them does not linger."""
    session.execute(sa.update(ImportBatch).where(
        ImportBatch.status == BatchStatus.PREVIEWED, ImportBatch.created_at < utcnow() - STALE_AFTER
    ).values(status=BatchStatus.DISCARDED, content=""))


def use_mapping(session: Session, actor: Any, batch: ImportBatch, mapping: ImportMapping,
                ip: str | None = None) -> Preview:
    _require_open(batch)
    batch.mapping_id = mapping.id
    session.flush()
    preview = preview_batch(session, batch)
    batch.error_count = preview.error_rows
    audit.record(session, actor, "import.mapping_use", f"import_batch:{batch.id}", {"mapping_id": mapping.id}, ip)
    session.commit()
    return preview


def _require_open(batch: ImportBatch) -> None:
    if batch.status != BatchStatus.PREVIEWED:
        raise CommitRefused([str(_l("このファイルはすでに取込済みか破棄されています。"))])


def discard_batch(session: Session, actor: Any, batch: ImportBatch, ip: str | None = None) -> None:
    _require_open(batch)
    batch.status, batch.content = BatchStatus.DISCARDED, ""
    audit.record(session, actor, "import.discard", f"import_batch:{batch.id}", {"sha256": batch.sha256}, ip)
    session.commit()



PRELOAD_ROWS = 500  # record ids per preload query (SQLite allows 32,766 bound values per statement)


def commit_batch(session: Session, settings: Any, actor: Any, batch: ImportBatch, *, trigger: str = "staff",
                 ip: str | None = None, progress: Progress = None) -> SyncRun:
    """Apply every row of the file in one transaction, or nothing (CommitRefused says why).

    New registrants get their invitation mail (queued in the same transaction); records that look like an
    existing registrant are held as duplicate candidates for staff, which is not an error.
    """
    claimed = session.execute(sa.update(ImportBatch).where(
        ImportBatch.id == batch.id, ImportBatch.status == BatchStatus.PREVIEWED
    ).values(status=BatchStatus.COMMITTING)).rowcount
    if claimed != 1:  # committed, discarded, or another request is committing it right now
        session.rollback()
        raise CommitRefused([str(_l("このファイルはすでに取込済みか破棄されています。"))])
    session.refresh(batch)
    preview = preview_batch(session, batch, progress)
    if not preview.can_commit:
        session.rollback()
        raise CommitRefused([str(_l("エラーがあるため取り込めません。ファイル全体を取り込むか、何も取り込まないかのどちらかです。"
                                    "修正したファイルをアップロードし直してください。")), *preview.refusal()])
    run = SyncRun(source=RUN_SOURCE, trigger=trigger, status=RunStatus.RUNNING.value, node=socket.gethostname()[:120],
                  fetched=len(preview.planned))
    session.add(run)
    session.flush()
    ctx = records.ApplyContext(session=session, source=SOURCE, codes=records.CodeBook(session), today=tokyo_today(),
                               run_id=run.id, on_created=lambda registrant: send_invitation(
                                   session, settings, registrant, new_account=True))
    counts: Counter[records.Outcome] = Counter()
    total = len(preview.planned)
    try:
        for done, planned in enumerate(preview.planned, start=1):
            if done % PRELOAD_ROWS == 1:  # the next rows' lookups in one query each (apply_record keeps them current)
                chunk = preview.planned[done - 1:done - 1 + PRELOAD_ROWS]
                ctx.preloaded = records.preload(session, SOURCE, [p.record.record_id for p in chunk])
            outcome = records.apply_record(ctx, planned.record)
            if outcome is records.Outcome.QUARANTINED:
                raise CommitRefused([str(_l("%(row)d行目: %(message)s", row=planned.row,
                                            message=" / ".join(_quarantine_reasons(session, planned.record))))])
            counts[outcome] += 1
            if progress and (done % 200 == 0 or done == total):
                progress("apply", done, total)
    except Exception as exc:
        session.rollback()
        _record_failed_run(session, trigger, total, exc)
        raise
    run.created, run.updated = counts[records.Outcome.CREATED], counts[records.Outcome.UPDATED]
    run.unchanged, run.duplicates = counts[records.Outcome.UNCHANGED], counts[records.Outcome.DUPLICATE]
    run.status, run.finished_at = RunStatus.SUCCEEDED.value, utcnow()
    batch.status, batch.committed_at, batch.run_id = BatchStatus.COMMITTED, utcnow(), run.id
    batch.error_count, batch.content = 0, ""  # the file has done its job: personal data is not kept twice
    audit.record(session, actor, "import.commit", f"import_batch:{batch.id}",
                 {"run_id": run.id, "sha256": batch.sha256, "rows": total, "created": run.created,
                  "updated": run.updated, "unchanged": run.unchanged, "duplicates": run.duplicates,
                  "mapping_id": batch.mapping_id}, ip)
    session.commit()
    return run


def _quarantine_reasons(session: Session, record: records.IncomingRecord) -> list[str]:
    row = session.scalar(sa.select(QuarantinedRecord).where(QuarantinedRecord.source == SOURCE,
                                                            QuarantinedRecord.record_id == record.record_id))
    try:
        return [str(reason) for reason in json.loads(row.reasons)] if row else []
    except ValueError:
        return []


def _record_failed_run(session: Session, trigger: str, rows: int, exc: Exception) -> None:
    """A commit that started and was rolled back still leaves a line in the run history."""
    reason = "; ".join(exc.messages) if isinstance(exc, CommitRefused) else type(exc).__name__
    now = utcnow()
    session.add(SyncRun(source=RUN_SOURCE, trigger=trigger, status=RunStatus.FAILED.value, started_at=now,
                        finished_at=now, fetched=rows, failed=rows, error=reason[:1000],
                        node=socket.gethostname()[:120]))
    session.commit()


# --- history and the blank template ---------------------------------------------------------------------

@dataclass
class HistoryRow:
    batch: ImportBatch
    run: SyncRun | None
    staff_name: str


def history(session: Session, limit: int = 50) -> list[HistoryRow]:
    rows = session.execute(
        sa.select(ImportBatch, SyncRun, StaffUser.display_name)
        .outerjoin(SyncRun, SyncRun.id == ImportBatch.run_id)
        .outerjoin(StaffUser, StaffUser.id == ImportBatch.created_by)
        .order_by(ImportBatch.id.desc()).limit(limit)
    ).all()
    return [HistoryRow(batch, run, name or "") for batch, run, name in rows]


def template_csv(session: Session) -> bytes:
    """A blank CSV with the standard headers, UTF-8 with BOM so Excel opens it correctly."""
    mapping = session.scalar(sa.select(ImportMapping).where(ImportMapping.name == DEFAULT_MAPPING_NAME))
    headers = list(mapping_columns(mapping)) if mapping is not None else list(DEFAULT_COLUMNS)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(headers)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")

