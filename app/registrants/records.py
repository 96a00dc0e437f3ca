"""Incoming registrant records (from the e-application system or a CSV file): validate, then apply.

Both the sync connector and the CSV import turn their input into `IncomingRecord`s whose `fields`
use the names in `FIELDS`; everything after that is shared, so the two paths cannot drift apart.
`apply_record` never commits: the caller commits a page or a whole file at once.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.codes.models import Code, CodeKind
from app.codes.services import valid_on
from app.core.jpdate import DateFormatError, parse_date
from app.core.timeutil import fiscal_year_end, tokyo_today, utcnow
from app.registrants.models import ConsentKind, ConsentRecord, Registrant, RegistrantStatus, StatusChange
from app.registrants.normalise import clean, name_key, registrant_search_text
from app.sync.models import DuplicateCandidate, QuarantinedRecord

# field name -> (label for messages, max length or None); the order is the order of CSV templates
FIELDS: dict[str, tuple[Any, int | None]] = {
    "family_name": (_l("氏"), 50),
    "given_name": (_l("名"), 50),
    "family_name_kana": (_l("氏(カナ)"), 50),
    "given_name_kana": (_l("名(カナ)"), 50),
    "birth_date": (_l("生年月日"), None),
    "email": (_l("メールアドレス"), 254),
    "phone": (_l("電話番号"), 20),
    "postal_code": (_l("郵便番号"), 8),
    "address": (_l("住所"), 200),
    "region": (_l("地域"), None),
    "licences": (_l("免許・資格"), None),
    "subjects": (_l("教科"), None),
    "job_types": (_l("希望職種"), None),
    "school_types": (_l("希望校種"), None),
    "available_from": (_l("勤務可能日"), None),
    "availability_note": (_l("勤務条件の補足"), 500),
    "former_department": (_l("退職時の所属"), 100),
    "left_year": (_l("退職年度"), None),
    "career_note": (_l("職歴・経歴"), 4000),
    "interests": (_l("関心のある分野"), 1000),
    "mail_consent": (_l("メール受信の同意"), None),
    "data_use_consent": (_l("情報利用の同意"), None),
    "privacy_notice_version": (_l("同意した個人情報の取扱いの版"), 20),
}
REQUIRED = ("family_name", "given_name", "family_name_kana", "given_name_kana", "email")
CODE_LIST_FIELDS = {"licences": CodeKind.LICENCE, "subjects": CodeKind.SUBJECT, "job_types": CodeKind.JOB_TYPE,
                    "school_types": CodeKind.SCHOOL_TYPE}
TEXT_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "phone", "postal_code", "address",
               "availability_note", "former_department", "career_note", "interests", "privacy_notice_version")
_KANA = re.compile(r"[\u30a0-\u30ff\u3040-\u309f\u30fc\s]+")
_PHONE = re.compile(r"[0-9+\-() ]{6,20}")
_POSTAL = re.compile(r"\d{3}-?\d{4}")
_TRUE = {"1", "true", "yes", "y", "はい", "同意する", "同意", "○", "希望する"}
_FALSE = {"0", "false", "no", "n", "いいえ", "同意しない", "不同意", "×", "希望しない", ""}


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


@dataclass
class IncomingRecord:
    record_id: str
    fields: dict[str, Any]
    source_updated_at: datetime | None = None
    withdrawn: bool = False

    def fingerprint(self) -> str:
        """Hash of everything the record says, to skip records that did not change."""
        canonical = json.dumps([self.fields, self.withdrawn], ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def payload(self) -> str:
        return json.dumps({"record_id": self.record_id, "withdrawn": self.withdrawn, **self.fields},
                          ensure_ascii=False, sort_keys=True, default=str)


class CodeBook:
    """Code-master lookups for one run: a value matches a code or, failing that, its Japanese label."""

    def __init__(self, session: Session, keep_ids: Iterable[int | None] = ()) -> None:
        """Codes valid today, plus `keep_ids` (codes the record being edited already has)."""
        self._by_kind: dict[str, dict[str, Code]] = {}
        keep = sorted({code_id for code_id in keep_ids if code_id})
        condition = valid_on(tokyo_today())
        for code in session.scalars(sa.select(Code).where(sa.or_(condition, Code.id.in_(keep)) if keep else condition)):
            entries = self._by_kind.setdefault(code.kind, {})
            entries[code.code.lower()] = code
            entries.setdefault(clean(code.label), code)

    def find(self, kind: str, value: str) -> Code | None:
        entries = self._by_kind.get(kind, {})
        return entries.get(value.strip().lower()) or entries.get(clean(value))


@dataclass
class Validated:
    values: dict[str, Any] = field(default_factory=dict)
    codes: list[Code] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[;;、,,/|]", str(value)) if part.strip()]


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = clean(str(value if value is not None else "")).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return parse_date(str(value))


def validate(fields: dict[str, Any], codes: CodeBook) -> Validated:
    """Check and convert a record's fields; every problem becomes one readable message."""
    result = Validated()
    problems = result.errors

    def label(name: str) -> str:
        return str(FIELDS[name][0])

    for name in TEXT_FIELDS:
        text = clean(str(fields.get(name) or ""))
        limit = FIELDS[name][1]
        if limit and len(text) > limit:
            problems.append(str(_l("%(field)sが長すぎます(%(n)d文字以内)", field=label(name), n=limit)))
        result.values[name] = text or None
    for name in REQUIRED:
        if not (str(fields.get(name) or "")).strip():
            problems.append(str(_l("%(field)sがありません", field=label(name))))
    for name in ("family_name_kana", "given_name_kana"):
        kana = result.values.get(name)
        if kana and not _KANA.fullmatch(kana):
            problems.append(str(_l("%(field)sはカタカナかひらがなで入力してください", field=label(name))))
    raw_email = clean(str(fields.get("email") or ""))
    if raw_email:
        try:
            result.values["email"] = validate_email(raw_email, check_deliverability=False).normalized
        except EmailNotValidError:
            problems.append(str(_l("メールアドレスの形式が正しくありません")))
    if result.values.get("phone") and not _PHONE.fullmatch(result.values["phone"]):
        problems.append(str(_l("電話番号の形式が正しくありません")))
    if result.values.get("postal_code") and not _POSTAL.fullmatch(result.values["postal_code"]):
        problems.append(str(_l("郵便番号は「850-8570」の形で入力してください")))
    for name in ("birth_date", "available_from"):
        try:
            result.values[name] = _date(fields.get(name))
        except DateFormatError as exc:
            problems.append(f"{label(name)}: {exc}")
    birth = result.values.get("birth_date")
    if birth and not date(1900, 1, 1) <= birth <= utcnow().date():
        problems.append(str(_l("生年月日が範囲外です")))
    _validate_left_year(fields.get("left_year"), result)
    _validate_codes(fields, codes, result)
    for name in ("mail_consent", "data_use_consent"):
        raw = fields.get(name)
        parsed = True if raw is None else _as_bool(raw)
        if parsed is None:
            problems.append(str(_l("%(field)sは「はい」か「いいえ」で指定してください", field=label(name))))
        result.values[name] = bool(parsed)
    return result


def _validate_left_year(raw: Any, result: Validated) -> None:
    text = clean(str(raw or ""))
    if not text:
        result.values["left_year"] = None
        return
    if not text.isdigit() or not 1950 <= int(text) <= utcnow().year + 1:
        result.errors.append(str(_l("退職年度は西暦4桁で入力してください")))
        return
    result.values["left_year"] = int(text)


def _validate_codes(fields: dict[str, Any], codes: CodeBook, result: Validated) -> None:
    region_value = clean(str(fields.get("region") or ""))
    result.values["region"] = None
    if region_value:
        region = codes.find(CodeKind.REGION.value, region_value)
        if region is None:
            result.errors.append(str(_l("地域「%(value)s」はコードマスタにありません", value=region_value)))
        result.values["region"] = region
    for name, kind in CODE_LIST_FIELDS.items():
        for value in _as_list(fields.get(name)):
            code = codes.find(kind.value, value)
            if code is None:
                result.errors.append(str(_l("%(field)s「%(value)s」はコードマスタにありません",
                                            field=str(FIELDS[name][0]), value=value)))
            elif code not in result.codes:
                result.codes.append(code)


# --- applying ----------------------------------------------------------------------------------------

@dataclass
class ApplyContext:
    """What stays the same for every record of one run."""

    session: Session
    source: str  # "e_application" or "import"
    codes: CodeBook
    today: date
    run_id: int | None = None
    on_created: Any = None  # callable(registrant) run after a registrant is created, e.g. the invitation
    preloaded: Preloaded | None = None  # optional: a batch's lookups loaded at once with `preload`


@dataclass
class Preloaded:
    """What apply_record would otherwise ask the database for each record, loaded for a batch at once.

    A bulk caller (the sync, per page) sets `ctx.preloaded = preload(...)` before applying the batch's records
    and drops it (None) if it rolls the batch back. apply_record keeps it current as it creates, updates and
    quarantines; a record id outside the batch is looked up as usual.
    """

    record_ids: set[str]
    registrants: dict[str, tuple[int, str | None]]  # external_id -> (registrant id, source_hash)
    open_quarantine: set[str]  # record ids with an unresolved quarantine row
    dismissed: set[str]  # record ids staff said are not duplicates


def preload(session: Session, source: str, record_ids: list[str]) -> Preloaded:
    ids = sorted(set(record_ids))
    registrants = {row.external_id: (row.id, row.source_hash) for row in session.execute(
        sa.select(Registrant.external_id, Registrant.id, Registrant.source_hash)
        .where(Registrant.external_id.in_(ids)))} if ids else {}
    open_quarantine = set(session.scalars(sa.select(QuarantinedRecord.record_id).where(
        QuarantinedRecord.source == source, QuarantinedRecord.record_id.in_(ids),
        QuarantinedRecord.resolved_at.is_(None)))) if ids else set()
    dismissed = set(session.scalars(sa.select(DuplicateCandidate.record_id).where(
        DuplicateCandidate.record_id.in_(ids), DuplicateCandidate.status == "dismissed"))) if ids else set()
    return Preloaded(set(ids), registrants, open_quarantine, dismissed)


def _known(ctx: ApplyContext, record_id: str) -> Preloaded | None:
    return ctx.preloaded if ctx.preloaded is not None and record_id in ctx.preloaded.record_ids else None


def apply_record(ctx: ApplyContext, record: IncomingRecord) -> Outcome:
    """Create or update the registrant this record describes, or set it aside with a reason."""
    session = ctx.session
    fingerprint = record.fingerprint()
    known = _known(ctx, record.record_id)
    # id and hash first: an unchanged record (most of them, in a re-run) never loads the whole registrant
    if known is not None:
        found = known.registrants.get(record.record_id)
    else:
        found = session.execute(sa.select(Registrant.id, Registrant.source_hash)
                                .where(Registrant.external_id == record.record_id)).first()
    if found is not None and found[1] == fingerprint:
        _resolve(ctx, record.record_id)
        return Outcome.UNCHANGED
    existing = session.get(Registrant, found[0]) if found is not None else None
    checked = validate(record.fields, ctx.codes)
    if not checked.errors and existing is not None:  # a new record's e-mail is checked as a duplicate below
        clash = _email_clash(session, checked.values["email"], existing)
        if clash is not None:
            checked.errors.append(str(_l("このメールアドレスは別の登録者が使用しています")))
    if checked.errors:
        _quarantine(ctx, record, checked.errors)
        return Outcome.QUARANTINED
    if existing is None:
        match = _likely_duplicate(session, checked.values, record.record_id,
                                  dismissed=None if known is None else record.record_id in known.dismissed)
        if match is not None:
            _hold_duplicate(ctx, record, *match)
            return Outcome.DUPLICATE
        registrant = _create(ctx, record, checked, fingerprint)
        outcome = Outcome.CREATED
    else:
        registrant = existing
        _update(ctx, registrant, record, checked, fingerprint)
        outcome = Outcome.UPDATED
    if record.withdrawn and registrant.status not in {RegistrantStatus.WITHDRAWN.value,
                                                      RegistrantStatus.ANONYMISED.value}:
        change_status(session, registrant, RegistrantStatus.WITHDRAWN, "withdrawn_at_source")
    _resolve(ctx, record.record_id)
    if known is not None:
        known.registrants[record.record_id] = (registrant.id, fingerprint)
    if outcome is Outcome.CREATED and ctx.on_created and registrant.status == RegistrantStatus.ACTIVE.value:
        ctx.on_created(registrant)
    return outcome


def _assign(registrant: Registrant, checked: Validated) -> None:
    values = checked.values
    for name in TEXT_FIELDS:
        setattr(registrant, name, values[name] if name not in REQUIRED else values[name] or "")
    registrant.email = values["email"]
    registrant.birth_date = values["birth_date"]
    registrant.available_from = values["available_from"]
    registrant.left_year = values["left_year"]
    registrant.region = values["region"]
    # a source record carries licences, subjects and desired job/school types; desired regions and staff tags
    # are set in Tsunagu itself and survive a sync or an import
    carried = {kind.value for kind in CODE_LIST_FIELDS.values()}
    registrant.codes = [code for code in registrant.codes if code.kind not in carried] + list(checked.codes)
    registrant.name_key = name_key(registrant.family_name, registrant.given_name)
    registrant.search_text = registrant_search_text(registrant.family_name, registrant.given_name,
                                                    registrant.family_name_kana, registrant.given_name_kana)


def _create(ctx: ApplyContext, record: IncomingRecord, checked: Validated, fingerprint: str) -> Registrant:
    registrant = Registrant(external_id=record.record_id, source=ctx.source, status=RegistrantStatus.ACTIVE.value,
                            valid_until=fiscal_year_end(ctx.today), status_changed_at=utcnow(),
                            mail_consent=checked.values["mail_consent"],
                            data_use_consent=checked.values["data_use_consent"])
    _assign(registrant, checked)
    registrant.source_hash, registrant.source_updated_at = fingerprint, record.source_updated_at
    ctx.session.add(registrant)
    ctx.session.flush()
    ctx.session.add(StatusChange(registrant_id=registrant.id, from_status=None,
                                 to_status=RegistrantStatus.ACTIVE.value, reason=f"created_by_{ctx.source}"))
    _record_consents(ctx, registrant, checked.values, initial=True)
    return registrant


def _update(ctx: ApplyContext, registrant: Registrant, record: IncomingRecord, checked: Validated,
            fingerprint: str) -> None:
    _record_consents(ctx, registrant, checked.values, initial=False)
    _assign(registrant, checked)
    registrant.mail_consent = checked.values["mail_consent"]
    registrant.data_use_consent = checked.values["data_use_consent"]
    registrant.source_hash, registrant.source_updated_at = fingerprint, record.source_updated_at


def _record_consents(ctx: ApplyContext, registrant: Registrant, values: dict[str, Any], *, initial: bool) -> None:
    version = values.get("privacy_notice_version")
    if version and (initial or version != registrant.privacy_notice_version):
        ctx.session.add(ConsentRecord(registrant_id=registrant.id, kind=ConsentKind.PRIVACY_NOTICE.value,
                                      granted=True, notice_version=version, source=ctx.source))
        registrant.privacy_notice_version = version
    for kind, attribute in ((ConsentKind.MAIL, "mail_consent"), (ConsentKind.DATA_USE, "data_use_consent")):
        if initial or getattr(registrant, attribute) != values[attribute]:
            ctx.session.add(ConsentRecord(registrant_id=registrant.id, kind=kind.value, granted=values[attribute],
                                          notice_version=version, source=ctx.source))


def change_status(session: Session, registrant: Registrant, status: RegistrantStatus, reason: str) -> None:
    """Move a registrant to `status` and keep the history (callers add the audit record)."""
    session.add(StatusChange(registrant_id=registrant.id, from_status=registrant.status, to_status=status.value,
                             reason=reason))
    registrant.status = status.value
    registrant.status_changed_at = utcnow()


def _email_clash(session: Session, email: str, existing: Registrant | None) -> Registrant | None:
    """Another registrant with this e-mail, compared case-insensitively.

    Not `lower(email) = ...`: that scans every row for every record, which made a sync quadratic. MariaDB's
    *_ci collation compares case-insensitively and uses the unique index; SQLite's NOCASE folds ASCII case as
    its lower() does, and scanning only the e-mail index for the id is several times cheaper.
    """
    if session.get_bind().dialect.name == "sqlite":
        stmt = sa.select(Registrant.id).where(Registrant.email.collate("NOCASE") == email)
    else:
        stmt = sa.select(Registrant.id).where(Registrant.email == email)
    if existing is not None:
        stmt = stmt.where(Registrant.id != existing.id)
    found = session.scalar(stmt.limit(1))
    return session.get(Registrant, found) if found is not None else None


def likely_duplicate(session: Session, values: dict[str, Any], record_id: str) -> tuple[Registrant, str] | None:
    """The duplicate rule `apply_record` applies, for previews that must predict it (the CSV import)."""
    return _likely_duplicate(session, values, record_id)


def _likely_duplicate(session: Session, values: dict[str, Any], record_id: str,
                      dismissed: bool | None = None) -> tuple[Registrant, str] | None:
    """Same e-mail, or same name and birth date, under another record id — unless staff said they differ."""
    same_email = _email_clash(session, values["email"], None)
    if same_email is not None:
        return same_email, "same_email"  # the e-mail is a login id: two accounts cannot share it
    if not values.get("birth_date"):
        return None
    if dismissed is None:
        dismissed = session.scalar(sa.select(DuplicateCandidate.id).where(
            DuplicateCandidate.record_id == record_id, DuplicateCandidate.status == "dismissed")) is not None
    if dismissed:
        return None
    key = name_key(values["family_name"], values["given_name"])
    same_person = session.scalar(sa.select(Registrant.id).where(
        Registrant.name_key == key, Registrant.birth_date == values["birth_date"],
        Registrant.status != RegistrantStatus.ANONYMISED.value).limit(1))
    return (session.get(Registrant, same_person), "same_name_birth_date") if same_person is not None else None


def _hold_duplicate(ctx: ApplyContext, record: IncomingRecord, registrant: Registrant, reason: str) -> None:
    row = ctx.session.scalar(sa.select(DuplicateCandidate).where(
        DuplicateCandidate.source == ctx.source, DuplicateCandidate.record_id == record.record_id))
    if row is None:
        row = DuplicateCandidate(source=ctx.source, record_id=record.record_id)
        ctx.session.add(row)
    elif row.status == "dismissed" and row.payload == record.payload() and row.registrant_id == registrant.id:
        return  # staff already decided on exactly this record; fetching it again must not reopen it
    row.registrant_id, row.reason, row.payload, row.status = registrant.id, reason, record.payload(), "open"


def _quarantine(ctx: ApplyContext, record: IncomingRecord, reasons: list[str]) -> None:
    row = ctx.session.scalar(sa.select(QuarantinedRecord).where(
        QuarantinedRecord.source == ctx.source, QuarantinedRecord.record_id == record.record_id))
    if row is None:
        row = QuarantinedRecord(source=ctx.source, record_id=record.record_id)
        ctx.session.add(row)
    row.payload = record.payload()
    row.reasons = json.dumps(reasons, ensure_ascii=False)
    row.run_id, row.last_seen_at, row.resolved_at = ctx.run_id, utcnow(), None
    known = _known(ctx, record.record_id)
    if known is not None:
        known.open_quarantine.add(record.record_id)


def _resolve(ctx: ApplyContext, record_id: str) -> None:
    known = _known(ctx, record_id)
    if known is not None:
        if record_id not in known.open_quarantine:
            return  # nothing to resolve: no query
        known.open_quarantine.discard(record_id)
    _resolve_quarantine(ctx.session, ctx.source, record_id)


def _resolve_quarantine(session: Session, source: str, record_id: str) -> None:
    session.execute(sa.update(QuarantinedRecord).where(
        QuarantinedRecord.source == source, QuarantinedRecord.record_id == record_id,
        QuarantinedRecord.resolved_at.is_(None)).values(resolved_at=utcnow())
        # no matching of the session's objects in Python for every record (nothing here reads them back)
        .execution_options(synchronize_session=False))
