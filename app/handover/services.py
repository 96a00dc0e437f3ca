"""Hand-over export and import (N2): all registrant data as one documented package.

The package (format in `docs/handover.md`, fields in `app.handover.schema`) is a folder, or the same
files in one .zip:

    manifest.json            format, version, generated_at, row counts, SHA-256 of every other file
    handover-schema.json     the JSON Schema every CSV row conforms to (a copy of docs/handover-schema.json)
    registrants.xlsx         the same data for people: one sheet per entity, Japanese + English header rows
    registrants.csv, registrant_codes.csv, consents.csv, status_changes.csv, referral_codes.csv,
    correspondence.csv, correspondence_revisions.csv
                             UTF-8 with BOM, CRLF, one header row of field names (the machine-readable part)

Credentials are not handed over: the password hash, its change date and the lock-out counters stay
behind (a successor cannot and must not reuse another system's hashes; registrants set a new password
there). Derived search keys are recomputed on import. Everything else about a registrant travels.

Formula neutralisation: a CSV text cell that starts with ``= + - @``, a tab, a carriage return or an
apostrophe gets one ``'`` in front, so a spreadsheet never runs it as a formula. The importer removes
exactly one leading ``'`` from every text cell that has one, which gives back the original value.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.codes.models import Code
from app.core.timeutil import utcnow
from app.correspondence.models import Correspondence, CorrespondenceRevision
from app.handover.schema import (
    CONSENTS,
    CORRESPONDENCE,
    CORRESPONDENCE_REVISIONS,
    ENTITIES,
    FORMAT,
    FORMAT_VERSION,
    REFERRAL_CODES,
    REGISTRANT_CODES,
    REGISTRANTS,
    SCHEMA_FILE,
    STATUS_CHANGES,
    Entity,
    Field,
    check_row,
    json_schema,
    schema_text,
)
from app.registrants.models import ConsentRecord, ReferralCode, Registrant, StatusChange, registrant_code
from app.registrants.normalise import name_key, registrant_search_text

MANIFEST_FILE = "manifest.json"
XLSX_FILE = "registrants.xlsx"
PACKAGE_FILES = frozenset({MANIFEST_FILE, XLSX_FILE, SCHEMA_FILE, *(e.file for e in ENTITIES)})
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
NOT_HANDED_OVER = ("password_hash", "password_changed_at", "failed_login_count", "failure_window_started_at",
                   "locked_until")
DERIVED = ("name_key", "search_text")  # recomputed from the names on import
MAX_ZIP_BYTES = 512 * 1024 * 1024
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_INTEGER = re.compile(r"-?\d+")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
BATCH = 500

Progress = Callable[[str, int, int], Any]


class HandoverError(Exception):
    """The package cannot be written or read; the message says why, in the staff's language."""


# --- cell encoding ----------------------------------------------------------------------------------------

def neutralise(text: str) -> str:
    """Text as written to a CSV cell: a leading formula character (or apostrophe) is escaped with one '."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """The inverse of `neutralise`: one leading apostrophe is removed."""
    return text[1:] if text.startswith("'") else text


def to_cell(field: Field, value: Any) -> str:
    if value is None:
        return ""
    if field.type == "boolean":
        return "true" if value else "false"
    if field.type == "integer":
        return str(int(value))
    if field.type == "date":
        return value.isoformat()
    if field.type == "datetime":
        return value.isoformat() + "Z"
    return neutralise(str(value))


def from_cell(field: Field, text: str) -> Any:
    """A CSV cell as a JSON value (dates stay text here; `check_row` validates them against the schema)."""
    if text == "":
        return "" if field.required and field.type == "string" else None
    if field.type == "string":
        return restore(text)
    if field.type == "integer":
        return int(text) if _INTEGER.fullmatch(text) else text
    if field.type == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _to_python(field: Field, value: Any) -> Any:
    """A checked JSON value as the database wants it."""
    if value is None:
        return None
    if field.type == "date":
        return date.fromisoformat(value)
    if field.type == "datetime":
        return datetime.fromisoformat(value.removesuffix("Z"))
    return value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- collecting ---------------------------------------------------------------------------------------------

def collect(session: Session, progress: Progress | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every entity's rows as Python values, in a stable order (by id)."""
    referrals = session.scalars(sa.select(ReferralCode).order_by(ReferralCode.code)).all()
    referral_code_of = {r.id: r.code for r in referrals}
    total = session.scalar(sa.select(sa.func.count(Registrant.id))) or 0
    registrants: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    stmt = (sa.select(Registrant).options(selectinload(Registrant.region), selectinload(Registrant.codes))
            .order_by(Registrant.id).execution_options(yield_per=BATCH))
    for registrant in session.scalars(stmt):
        registrants.append(_registrant_row(registrant, referral_code_of))
        for code in sorted(registrant.codes, key=lambda c: (c.kind, c.code)):
            codes.append({"registrant_id": registrant.id, "kind": code.kind, "code": code.code, "label": code.label,
                          "label_en": code.label_en})
        if progress and (len(registrants) % BATCH == 0 or len(registrants) == total):
            progress("read registrants", len(registrants), total)
    consents = [{"consent_id": c.id, "registrant_id": c.registrant_id, "kind": c.kind, "granted": c.granted,
                 "notice_version": c.notice_version, "source": c.source, "recorded_at": c.recorded_at}
                for c in session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id))]
    changes = [{"status_change_id": c.id, "registrant_id": c.registrant_id, "from_status": c.from_status,
                "to_status": c.to_status, "reason": c.reason, "changed_at": c.changed_at}
               for c in session.scalars(sa.select(StatusChange).order_by(StatusChange.id))]
    referral_rows = [{"code": r.code, "label": r.label, "medium": r.medium, "is_active": r.is_active,
                      "created_at": r.created_at} for r in referrals]
    channel_of = {c.id: c for c in session.scalars(sa.select(Code).where(Code.kind == CORRESPONDENCE_CHANNEL))}
    correspondence = [
        {"correspondence_id": c.id, "registrant_id": c.registrant_id, "occurred_at": c.occurred_at,
         "channel": channel_of[c.channel_id].code, "channel_label": channel_of[c.channel_id].label,
         "staff_name": c.staff_name, "subject": c.subject, "body": c.body, "outcome": c.outcome,
         "follow_up_on": c.follow_up_on, "created_at": c.created_at, "updated_at": c.updated_at}
        for c in session.scalars(sa.select(Correspondence).order_by(Correspondence.id))]
    revisions = [
        {"revision_id": r.id, "correspondence_id": r.correspondence_id, "occurred_at": r.occurred_at,
         "channel": channel_of[r.channel_id].code, "channel_label": channel_of[r.channel_id].label,
         "staff_name": r.staff_name, "subject": r.subject, "body": r.body, "outcome": r.outcome,
         "follow_up_on": r.follow_up_on, "edited_by_name": r.edited_by_name, "edited_at": r.edited_at}
        for r in session.scalars(sa.select(CorrespondenceRevision).order_by(CorrespondenceRevision.id))]
    return {REGISTRANTS.name: registrants, REGISTRANT_CODES.name: codes, CONSENTS.name: consents,
            STATUS_CHANGES.name: changes, REFERRAL_CODES.name: referral_rows, CORRESPONDENCE.name: correspondence,
            CORRESPONDENCE_REVISIONS.name: revisions}


CORRESPONDENCE_CHANNEL = "correspondence_channel"
# entities whose rows a package carries only from this minor version on (in 1.0 correspondence.csv was a
# reserved, always empty file with other columns, and correspondence_revisions.csv did not exist)
FILLED_SINCE_MINOR = {CORRESPONDENCE.name: 1, CORRESPONDENCE_REVISIONS.name: 1}

_SPECIAL_REGISTRANT_FIELDS = {"registrant_id", "region_code", "region_label", "referral_code"}


def _registrant_row(registrant: Registrant, referral_code_of: dict[int, str]) -> dict[str, Any]:
    row = {name: getattr(registrant, name) for name in REGISTRANTS.names if name not in _SPECIAL_REGISTRANT_FIELDS}
    row["registrant_id"] = registrant.id
    row["region_code"] = registrant.region.code if registrant.region else None
    row["region_label"] = registrant.region.label if registrant.region else None
    row["referral_code"] = referral_code_of.get(registrant.referral_id) if registrant.referral_id else None
    return row


# --- writing ---------------------------------------------------------------------------------------------------

def csv_bytes(entity: Entity, rows: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(entity.names)
    for row in rows:
        writer.writerow([to_cell(f, row[f.name]) for f in entity.fields])
    return buffer.getvalue().encode("utf-8-sig")


def _write_package(session: Session, out_dir: Path, progress: Progress | None) -> dict[str, Any]:
    from app.handover.workbook import render_workbook

    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise HandoverError(str(_l("出力先のフォルダ %(path)s が空ではありません。空のフォルダを指定してください。",
                                   path=str(out_dir))))
    generated_at = utcnow().replace(microsecond=0)
    data = collect(session, progress)
    files: dict[str, bytes] = {entity.file: csv_bytes(entity, data[entity.name]) for entity in ENTITIES}
    if progress:
        progress("write csv", len(ENTITIES), len(ENTITIES))
    files[XLSX_FILE] = render_workbook(data, generated_at)
    if progress:
        progress("write xlsx", 1, 1)
    files[SCHEMA_FILE] = schema_text().encode("utf-8")
    for name, content in files.items():
        (out_dir / name).write_bytes(content)
    counts = {entity.name: len(data[entity.name]) for entity in ENTITIES}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generated_at": generated_at.isoformat() + "Z",
        "generator": "Tsunagu",
        "schema": SCHEMA_FILE,
        "csv": {"encoding": "UTF-8 with BOM", "line_ending": "CRLF", "header_rows": 1, "null": "empty cell",
                "formula_prefix": "'", "formula_triggers": list(FORMULA_TRIGGERS)},
        "entities": {entity.name: {"file": entity.file, "sheet": entity.sheet, "rows": counts[entity.name],
                                   "reserved": entity.reserved} for entity in ENTITIES},
        "counts": counts,
        "files": {name: {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                  for name, content in sorted(files.items())},
        "not_included": {"fields": list(NOT_HANDED_OVER),
                         "reason": "credentials are not handed over; registrants set a new password in the "
                                   "successor system"},
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest


def _audit_detail(manifest: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    return {"format_version": manifest["format_version"], "counts": manifest["counts"],
            "manifest_sha256": sha256_file(out_dir / MANIFEST_FILE),
            "files": {name: info["sha256"] for name, info in manifest["files"].items()}}


def export_package(session: Session, out_dir: str | Path, *, actor: Any = audit.SYSTEM, client_ip: str | None = None,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Write the package into `out_dir` (created; must be empty) and audit it. Returns the manifest."""
    target = Path(out_dir)
    manifest = _write_package(session, target, progress)
    audit.record(session, actor, "handover.export", "registrant:*", _audit_detail(manifest, target), client_ip)
    session.commit()
    return manifest


def export_zip(session: Session, *, actor: Any, client_ip: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """The package as one .zip (for the admin download), audited with the zip's SHA-256."""
    with _scratch_dir() as work:
        manifest = _write_package(session, work, None)
        content = zip_package(work)
        detail = _audit_detail(manifest, work) | {"zip_sha256": hashlib.sha256(content).hexdigest(),
                                                  "zip_bytes": len(content)}
    audit.record(session, actor, "handover.export", "registrant:*", detail, client_ip)
    session.commit()
    return content, manifest


def zip_package(folder: Path) -> bytes:
    """The package folder as a zip with fixed timestamps (the same files give the same bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.name not in PACKAGE_FILES:
                continue
            info = zipfile.ZipInfo(path.name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, path.read_bytes())
    return out.getvalue()


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tsunagu-handover-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def opened_package(path: str | Path) -> Iterator[Path]:
    """A package folder, or a .zip unpacked into a private temporary folder (known file names only)."""
    source = Path(path)
    if source.is_dir():
        yield source
        return
    if not zipfile.is_zipfile(source):
        raise HandoverError(str(_l("%(path)s は引き継ぎパッケージのフォルダでもzipファイルでもありません。",
                                   path=str(source))))
    with zipfile.ZipFile(source) as archive, _scratch_dir() as work:
        members = archive.infolist()
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise HandoverError(str(_l("zipファイルの展開後のサイズが大きすぎます。")))
        for member in members:
            if member.is_dir():
                continue
            if member.filename not in PACKAGE_FILES:  # also refuses "../x" and sub-folders
                raise HandoverError(str(_l("zipファイルに想定外のファイル %(name)s が含まれています。",
                                           name=member.filename)))
            (work / member.filename).write_bytes(archive.read(member))
        yield work


# --- reading and checking ----------------------------------------------------------------------------------------

@dataclass
class Package:
    manifest: dict[str, Any]
    manifest_sha256: str
    rows: dict[str, list[dict[str, Any]]]  # JSON values, checked against the schema


def _fail(message: Any) -> HandoverError:
    return HandoverError(str(message))


def verify_manifest(folder: Path) -> tuple[dict[str, Any], str]:
    """Read manifest.json and check every file's SHA-256 before anything else is read."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise _fail(_l("manifest.json がありません。引き継ぎパッケージのフォルダを指定してください。"))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _fail(_l("manifest.json を読み取れません(JSON形式ではありません)。")) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail(_l("manifest.json の形式が Tsunagu の引き継ぎパッケージではありません。"))
    version = str(manifest.get("format_version", ""))
    if version.split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise _fail(_l("引き継ぎパッケージの版 %(version)s には対応していません(対応: %(supported)s)。",
                       version=version, supported=FORMAT_VERSION))
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise _fail(_l("manifest.json にファイルの一覧がありません。"))
    for entity in ENTITIES:
        if entity.file not in files and _minor(version) >= FILLED_SINCE_MINOR.get(entity.name, 0):
            raise _fail(_l("manifest.json に %(name)s がありません。", name=entity.file))
    for name, info in sorted(files.items()):
        if name not in PACKAGE_FILES or not isinstance(info, dict):
            raise _fail(_l("manifest.json に想定外のファイル %(name)s があります。", name=name))
        file_path = folder / name
        if not file_path.is_file():
            raise _fail(_l("%(name)s がありません。", name=name))
        if sha256_file(file_path) != info.get("sha256"):
            raise _fail(_l("%(name)s のSHA-256が manifest.json と一致しません。ファイルが改変されたか壊れています。"
                           "取り込みを中止しました。", name=name))
    return manifest, sha256_file(path)


def read_package(folder: str | Path) -> Package:
    """Verify and read a package folder; every row is checked against the schema and the references."""
    root = Path(folder)
    manifest, manifest_sha256 = verify_manifest(root)
    schema = json_schema()["$defs"]
    rows: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    newer_minor = _minor(manifest.get("format_version")) > _minor(FORMAT_VERSION)
    for entity in ENTITIES:
        if _minor(manifest.get("format_version")) < FILLED_SINCE_MINOR.get(entity.name, 0):
            rows[entity.name] = []  # not carried by this older package
            continue
        rows[entity.name] = _read_csv(root / entity.file, entity, schema[entity.name], problems, newer_minor,
                                      _minor(manifest.get("format_version")))
        expected = manifest.get("counts", {}).get(entity.name)
        if expected is not None and expected != len(rows[entity.name]):
            problems.append(f"{entity.file}: {len(rows[entity.name])} rows, manifest.json says {expected}")
    problems += _reference_problems(rows)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  (+{len(problems) - 20})" if len(problems) > 20 else ""
        raise HandoverError(str(_l("引き継ぎパッケージに誤りがあるため取り込めません:")) + "\n" + shown + more)
    return Package(manifest, manifest_sha256, rows)


def _read_csv(path: Path, entity: Entity, row_schema: dict[str, Any], problems: list[str],
              newer_minor: bool = False, package_minor: int = 0) -> list[dict[str, Any]]:
    """Rows of one CSV file, columns matched by name. Columns this version does not know are refused,
    unless the package is of a newer minor version (which may only add columns): then they are skipped."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None) or []
        missing = [f.name for f in entity.fields if f.name not in header and f.since_minor <= package_minor]
        unknown = [name for name in header if name not in entity.names]
        if missing or (unknown and not newer_minor) or len(set(header)) != len(header):
            problems.append(f"{entity.file}: header must be {','.join(entity.names)}")
            return []
        columns = [(index, entity.fields[entity.names.index(name)]) for index, name in enumerate(header)
                   if name in entity.names]
        out = []
        for number, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                problems.append(f"{entity.file} line {number}: {len(cells)} cells, expected {len(header)}")
                continue
            row = {f.name: None for f in entity.fields} | {f.name: from_cell(f, cells[index]) for index, f in columns}
            problems += [f"{entity.file} line {number}: {p}" for p in check_row(row_schema, row)]
            out.append(row)
        return out


def _minor(version: Any) -> int:
    parts = str(version or "").split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _reference_problems(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    ids = [r["registrant_id"] for r in rows[REGISTRANTS.name]]
    known = set(ids)
    if len(known) != len(ids):
        problems.append("registrants.csv: registrant_id is not unique")
    emails = [str(r["email"]).lower() for r in rows[REGISTRANTS.name]]
    if len(set(emails)) != len(emails):
        problems.append("registrants.csv: email is not unique")
    for entity in (REGISTRANT_CODES, CONSENTS, STATUS_CHANGES, CORRESPONDENCE):
        missing = sorted({r["registrant_id"] for r in rows[entity.name]} - known)
        if missing:
            problems.append(f"{entity.file}: registrant_id {missing[:5]} not in registrants.csv")
    referrals = {r["code"] for r in rows[REFERRAL_CODES.name]}
    unknown = sorted({r["referral_code"] for r in rows[REGISTRANTS.name] if r["referral_code"]} - referrals)
    if unknown:
        problems.append(f"registrants.csv: referral_code {unknown[:5]} not in referral_codes.csv")
    entries = {r["correspondence_id"] for r in rows[CORRESPONDENCE.name]}
    if len(entries) != len(rows[CORRESPONDENCE.name]):
        problems.append("correspondence.csv: correspondence_id is not unique")
    orphans = sorted({r["correspondence_id"] for r in rows[CORRESPONDENCE_REVISIONS.name]} - entries)
    if orphans:
        problems.append(f"correspondence_revisions.csv: correspondence_id {orphans[:5]} not in correspondence.csv")
    return problems


# --- importing -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportReport:
    counts: dict[str, int]
    codes_created: int
    referral_codes_created: int


def import_package(session: Session, in_dir: str | Path, *, actor: Any = audit.SYSTEM,
                   client_ip: str | None = None, progress: Progress | None = None) -> ImportReport:
    """Recreate every registrant of a package in an empty installation, in one transaction.

    The SHA-256 of every file is checked against manifest.json first, then every row against the
    schema. Code-master entries and referral codes the installation lacks are created from the
    package. Registrant, consent and status-history ids are kept, so the package's references hold.
    """
    with opened_package(in_dir) as folder:
        package = read_package(folder)
    existing = session.scalar(sa.select(sa.func.count(Registrant.id))) or 0
    if existing:
        raise HandoverError(str(_l("この環境にはすでに登録者が %(n)d 人います。引き継ぎデータは登録者のいない"
                                   "(空の)環境にだけ取り込めます。", n=existing)))
    try:
        report = _insert(session, package, progress)
        audit.record(session, actor, "handover.import", "registrant:*",
                     {"format_version": package.manifest.get("format_version"), "counts": report.counts,
                      "codes_created": report.codes_created, "referral_codes_created": report.referral_codes_created,
                      "manifest_sha256": package.manifest_sha256,
                      "generated_at": package.manifest.get("generated_at")}, client_ip)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise HandoverError(str(_l("データベースに書き込めませんでした(一意制約違反)。取り込みは行われていません。"))) \
            from None
    except BaseException:
        session.rollback()
        raise
    return report


def _typed(entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
    return {f.name: _to_python(f, row[f.name]) for f in entity.fields}


def _insert(session: Session, package: Package, progress: Progress | None) -> ImportReport:
    rows = package.rows
    code_ids, codes_created = _ensure_codes(session, rows)
    referral_ids, referrals_created = _ensure_referrals(session, rows)
    registrants = []
    for raw in rows[REGISTRANTS.name]:
        row = _typed(REGISTRANTS, raw)
        values = {name: row[name] for name in REGISTRANTS.names if name not in _SPECIAL_REGISTRANT_FIELDS}
        values |= {
            "id": row["registrant_id"],
            "region_id": code_ids[("region", row["region_code"])] if row["region_code"] else None,
            "referral_id": referral_ids[row["referral_code"]] if row["referral_code"] else None,
            "name_key": name_key(row["family_name"], row["given_name"]),
            "search_text": registrant_search_text(row["family_name"], row["given_name"], row["family_name_kana"],
                                                  row["given_name_kana"]),
            "posting_notice_opt_in": bool(row["posting_notice_opt_in"]),
            "password_hash": None, "password_changed_at": None, "failed_login_count": 0,
            "failure_window_started_at": None, "locked_until": None,
        }
        registrants.append(values)
    table = Registrant.__table__
    for start in range(0, len(registrants), BATCH):
        session.execute(sa.insert(table), registrants[start:start + BATCH])
        if progress:
            progress("registrants", min(start + BATCH, len(registrants)), len(registrants))
    links = [{"registrant_id": r["registrant_id"], "code_id": code_ids[(r["kind"], r["code"])]}
             for r in rows[REGISTRANT_CODES.name]]
    consents = []
    for raw in rows[CONSENTS.name]:
        row = _typed(CONSENTS, raw)
        consents.append({"id": row.pop("consent_id"), **row})
    changes = []
    for raw in rows[STATUS_CHANGES.name]:
        row = _typed(STATUS_CHANGES, raw)
        changes.append({"id": row.pop("status_change_id"), **row})
    entries = []
    for raw in rows[CORRESPONDENCE.name]:
        row = _typed(CORRESPONDENCE, raw)
        entries.append({"id": row["correspondence_id"], "registrant_id": row["registrant_id"],
                        "channel_id": code_ids[(CORRESPONDENCE_CHANNEL, row["channel"])], "staff_id": None,
                        **{k: row[k] for k in ("occurred_at", "staff_name", "subject", "body", "outcome",
                                               "follow_up_on", "created_at", "updated_at")}})
    revisions = []
    for raw in rows[CORRESPONDENCE_REVISIONS.name]:
        row = _typed(CORRESPONDENCE_REVISIONS, raw)
        revisions.append({"id": row["revision_id"], "correspondence_id": row["correspondence_id"],
                          "channel_id": code_ids[(CORRESPONDENCE_CHANNEL, row["channel"])], "staff_id": None,
                          "edited_by_id": None,
                          **{k: row[k] for k in ("occurred_at", "staff_name", "subject", "body", "outcome",
                                                 "follow_up_on", "edited_by_name", "edited_at")}})
    for label, target, values in (("codes", registrant_code, links), ("consents", ConsentRecord.__table__, consents),
                                  ("status history", StatusChange.__table__, changes),
                                  ("correspondence", Correspondence.__table__, entries),
                                  ("correspondence revisions", CorrespondenceRevision.__table__, revisions)):
        for start in range(0, len(values), BATCH):
            session.execute(sa.insert(target), values[start:start + BATCH])
        if progress:
            progress(label, len(values), len(values))
    session.flush()
    counts = {entity.name: len(rows[entity.name]) for entity in ENTITIES}
    return ImportReport(counts, codes_created, referrals_created)


def _ensure_codes(session: Session, rows: dict[str, list[dict[str, Any]]]) -> tuple[dict[tuple[str, str], int], int]:
    """(kind, code) -> id for every code the package uses; missing ones are created with the package's labels."""
    wanted: dict[tuple[str, str], tuple[str, str | None]] = {}
    for r in rows[REGISTRANT_CODES.name]:  # first: these rows carry the English label too
        wanted.setdefault((r["kind"], r["code"]), (r["label"], r["label_en"]))
    for r in rows[REGISTRANTS.name]:
        if r["region_code"]:
            wanted.setdefault(("region", r["region_code"]), (r["region_label"] or r["region_code"], None))
    for r in rows[CORRESPONDENCE.name] + rows[CORRESPONDENCE_REVISIONS.name]:
        wanted.setdefault((CORRESPONDENCE_CHANNEL, r["channel"]), (r["channel_label"], None))
    existing = {(c.kind, c.code): c for c in session.scalars(sa.select(Code))}
    next_order: dict[str, int] = {}
    for c in existing.values():
        next_order[c.kind] = max(next_order.get(c.kind, 0), c.sort_order)
    created = 0
    for (kind, code), (label, label_en) in sorted(wanted.items()):
        if (kind, code) in existing:
            continue
        next_order[kind] = next_order.get(kind, 0) + 10
        row = Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=next_order[kind])
        session.add(row)
        existing[(kind, code)] = row
        created += 1
    session.flush()
    return {key: existing[key].id for key in wanted}, created


def _ensure_referrals(session: Session, rows: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, int], int]:
    existing = {r.code: r for r in session.scalars(sa.select(ReferralCode))}
    created = 0
    for raw in rows[REFERRAL_CODES.name]:
        if raw["code"] in existing:
            continue
        row = _typed(REFERRAL_CODES, raw)
        referral = ReferralCode(**row)
        session.add(referral)
        existing[raw["code"]] = referral
        created += 1
    session.flush()
    return {code: r.id for code, r in existing.items()}, created


def xlsx_text(value: str) -> str:
    """Text as a workbook cell shows it: line breaks as LF, characters XML forbids as U+FFFD.

    Only the workbook is adjusted; the CSV files (the part that is imported) keep every character.
    """
    return _ILLEGAL_XLSX.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))


def display_width(text: str) -> int:
    """Width in Excel character units: full-width (Japanese) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
