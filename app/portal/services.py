"""What a registrant does for themselves: use a mailed link, reset a password, consents, withdrawal, profile.

Plain functions over an explicit session (no request, no flash), so tests and other capabilities call
them directly. Every change is audited with the registrant (or the system, for anonymous requests) as
the actor; audit rows carry ids, never the personal data itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.auth import tokens
from app.auth.models import AccountToken
from app.auth.services import check_new_password, find_account, set_password
from app.auth.tokens import Purpose, TokenProblem
from app.codes.models import Code, CodeKind
from app.core.timeutil import utcnow
from app.mail.services import enqueue
from app.registrants.accounts import send_password_reset
from app.registrants.models import ConsentKind, ConsentRecord, Registrant, RegistrantSource, RegistrantStatus
from app.registrants.normalise import name_key, registrant_search_text
from app.registrants.records import CodeBook, validate

# one reset mail per account in this period, however often the form is sent (no mail bombing)
RESET_MAIL_INTERVAL = timedelta(minutes=2)
# statuses whose holder may reset a password (an expired registrant logs in to renew)
RESETTABLE = {RegistrantStatus.ACTIVE.value, RegistrantStatus.EXPIRED.value}
GONE = {RegistrantStatus.WITHDRAWN.value, RegistrantStatus.ANONYMISED.value}


@dataclass
class LinkCheck:
    """A mailed link: whose it is, or why it cannot be used."""

    registrant: Registrant | None
    token: AccountToken | None
    problem: TokenProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class LinkOutcome:
    """The result of submitting a link's form: a problem with the link, password errors, or done."""

    problem: TokenProblem | None = None
    errors: list[str] = field(default_factory=list)
    registrant: Registrant | None = None

    @property
    def done(self) -> bool:
        return self.problem is None and not self.errors and self.registrant is not None


def check_link(session: Session, token: str | None, purpose: Purpose) -> LinkCheck:
    """Whether a link's token can be used now; a withdrawn or erased registrant's link is unknown."""
    if not token:
        return LinkCheck(None, None, TokenProblem.UNKNOWN)
    checked = tokens.check(session, token, purpose)
    if checked.token is None or checked.token.account_kind != "registrant":
        return LinkCheck(None, None, TokenProblem.UNKNOWN)
    registrant = session.get(Registrant, checked.token.account_id)
    if registrant is None or registrant.status in GONE:
        return LinkCheck(None, None, TokenProblem.UNKNOWN)
    return LinkCheck(registrant, checked.token, checked.problem)


def set_password_with_link(session: Session, settings: Any, token: str | None, purpose: Purpose, password: str,
                           ip: str | None, *, on_success: Any = None) -> LinkOutcome:
    """Set the password of the link's registrant, using the link up. Commits on success.

    A weak password leaves the link usable. `on_success(registrant)` runs before the commit
    (e.g. activation after e-mail verification). Every other login session of the account ends.
    """
    link = check_link(session, token, purpose)
    if not link.ok or link.registrant is None or link.token is None:
        return LinkOutcome(problem=link.problem or TokenProblem.UNKNOWN)
    registrant = link.registrant
    problems = check_new_password(settings, password, registrant.email)
    if problems:
        return LinkOutcome(errors=problems, registrant=registrant)
    if not tokens.mark_used(session, link.token):  # a second tab or a double click got there first
        session.rollback()
        return LinkOutcome(problem=TokenProblem.USED)
    now = utcnow()
    if registrant.email_verified_at is None:
        registrant.email_verified_at = now  # the link reached them: the address works
    if purpose is Purpose.RESET:  # the owner of the mailbox proved themselves: lift a lock-out
        registrant.locked_until, registrant.failed_login_count, registrant.failure_window_started_at = None, 0, None
    if on_success is not None:
        on_success(registrant)
    action = {Purpose.INVITE: "auth.invitation_accepted", Purpose.RESET: "auth.password_reset",
              Purpose.VERIFY: "auth.password_set_after_verification"}[purpose]
    audit.record(session, registrant, action, f"registrant:{registrant.id}", {}, ip)
    set_password(session, registrant, registrant, password, ip)  # ends every session, audits, commits
    return LinkOutcome(registrant=registrant)


def request_password_reset(session: Session, settings: Any, email: str, ip: str | None) -> None:
    """Queue a reset mail if the address belongs to a registrant who may log in. Commits.

    The caller answers the same way whatever happens here, so the page never tells whether an
    address is registered.
    """
    registrant = find_account(session, "registrant", email or "") if email and len(email) <= 254 else None
    if registrant is None or registrant.status not in RESETTABLE:
        return
    recent = session.scalar(sa.select(sa.func.count()).select_from(AccountToken).where(
        AccountToken.account_kind == "registrant", AccountToken.account_id == registrant.id,
        AccountToken.purpose == Purpose.RESET.value, AccountToken.created_at > utcnow() - RESET_MAIL_INTERVAL))
    if recent:
        return
    send_password_reset(session, settings, registrant)
    audit.record(session, audit.SYSTEM, "auth.password_reset_requested", f"registrant:{registrant.id}", {}, ip)
    session.commit()


# --- consents -------------------------------------------------------------------------------------------

CONSENT_ATTRIBUTES = {ConsentKind.MAIL: "mail_consent", ConsentKind.DATA_USE: "data_use_consent"}


def update_consents(session: Session, registrant: Registrant, wanted: dict[ConsentKind, bool],
                    ip: str | None) -> list[ConsentKind]:
    """Apply the registrant's own consent choices; each change is a ConsentRecord and an audit row. Commits."""
    changed: list[ConsentKind] = []
    for kind, attribute in CONSENT_ATTRIBUTES.items():
        if kind not in wanted or getattr(registrant, attribute) == wanted[kind]:
            continue
        setattr(registrant, attribute, wanted[kind])
        session.add(ConsentRecord(registrant_id=registrant.id, kind=kind.value, granted=wanted[kind],
                                  notice_version=registrant.privacy_notice_version,
                                  source=RegistrantSource.SELF.value))
        audit.record(session, registrant, "registrant.consent_change", f"registrant:{registrant.id}",
                     {"kind": kind.value, "granted": wanted[kind]}, ip)
        changed.append(kind)
    session.commit()
    return changed


def update_posting_notice(session: Session, registrant: Registrant, wanted: bool, ip: str | None) -> bool:
    """The registrant's wish for mails about new postings that fit them. Audited (no consent kind of its
    own: the mails go out only while the mail consent is given). Commits; False when unchanged."""
    if registrant.posting_notice_opt_in == wanted:
        return False
    registrant.posting_notice_opt_in = wanted
    audit.record(session, registrant, "registrant.posting_notice_change", f"registrant:{registrant.id}",
                 {"opt_in": wanted}, ip)
    session.commit()
    return True


def consent_history(session: Session, registrant: Registrant, limit: int = 20) -> list[ConsentRecord]:
    return list(session.scalars(sa.select(ConsentRecord).where(ConsentRecord.registrant_id == registrant.id)
                                .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc()).limit(limit)))


# --- withdrawal ----------------------------------------------------------------------------------------

def request_withdrawal(session: Session, settings: Any, registrant: Registrant, ip: str | None) -> bool:
    """Record the registrant's wish to withdraw and confirm it by mail; staff complete it. Commits.

    False when it was already requested (nothing is sent twice).
    """
    if registrant.withdrawal_requested_at is not None or registrant.status in GONE:
        return False
    registrant.withdrawal_requested_at = utcnow()
    body = str(_l(
        "%(name)s 様\n\n"
        "つなぐの退会のお申し出を受け付けました。\n"
        "事務局で手続きを行い、完了しましたら改めてお知らせします。手続きが終わるまでは、これまでどおりログインできます。\n\n"
        "お心当たりのない場合や、退会を取り消したい場合は、事務局へご連絡ください。\n",
        name=registrant.full_name))
    enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】退会のお申し出を受け付けました")), body=body,
            category="withdrawal_request", registrant_id=registrant.id)
    audit.record(session, registrant, "registrant.withdrawal_requested", f"registrant:{registrant.id}", {}, ip)
    session.commit()
    return True


# --- own profile (self-registered registrants only) ------------------------------------------------------

PROFILE_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "birth_date", "phone",
                  "postal_code", "address", "region", "licences", "subjects", "job_types", "school_types",
                  "available_from", "availability_note", "former_department", "left_year", "career_note",
                  "interests")
# code kinds the profile form edits; a registrant's region codes are their desired work regions
PROFILE_CODE_KINDS = {CodeKind.LICENCE.value, CodeKind.SUBJECT.value, CodeKind.JOB_TYPE.value,
                      CodeKind.SCHOOL_TYPE.value, CodeKind.REGION.value}
MAX_DESIRED_REGIONS = 100
PROFILE_TEXT = ("family_name", "given_name", "family_name_kana", "given_name_kana", "phone", "postal_code",
                "address", "availability_note", "former_department", "career_note", "interests")


def may_edit_profile(registrant: Registrant) -> bool:
    """Only self-registered records are edited here; the others belong to the e-application system or staff."""
    return registrant.source == RegistrantSource.SELF.value and registrant.status not in GONE


def update_own_profile(session: Session, registrant: Registrant, fields: dict[str, Any], ip: str | None) -> list[str]:
    """Validate with the same rules as sync and import, then save. Returns messages; empty means saved."""
    if not may_edit_profile(registrant):
        return [str(_l("この登録情報はここでは変更できません。"))]
    record = {name: fields.get(name) for name in PROFILE_FIELDS}
    # what the form does not edit is validated as it is stored
    record |= {"email": registrant.email, "mail_consent": registrant.mail_consent,
               "data_use_consent": registrant.data_use_consent,
               "privacy_notice_version": registrant.privacy_notice_version}
    # codes the registrant already has stay valid for them even after the code master retired them
    kept = [registrant.region_id, *(code.id for code in registrant.codes)]
    book = CodeBook(session, keep_ids=kept)
    checked = validate(record, book)
    desired, desired_errors = _desired_regions(book, fields.get("desired_regions"))
    if checked.errors or desired_errors:
        return checked.errors + desired_errors
    values = checked.values
    changed = sorted(name for name in PROFILE_FIELDS if _differs(registrant, name, values, checked.codes))
    if {c.id for c in registrant.codes_of(CodeKind.REGION.value)} != {c.id for c in desired}:
        changed = sorted([*changed, "desired_regions"])
    for name in PROFILE_TEXT:
        setattr(registrant, name, values[name] or ("" if name.endswith(("_name", "_kana")) else None))
    registrant.birth_date, registrant.available_from = values["birth_date"], values["available_from"]
    registrant.left_year, registrant.region = values["left_year"], values["region"]
    # codes of kinds this form does not edit (staff tags) stay as they are
    untouched = [code for code in registrant.codes if code.kind not in PROFILE_CODE_KINDS]
    registrant.codes = [*checked.codes, *desired, *untouched]
    registrant.name_key = name_key(registrant.family_name, registrant.given_name)
    registrant.search_text = registrant_search_text(registrant.family_name, registrant.given_name,
                                                    registrant.family_name_kana, registrant.given_name_kana)
    audit.record(session, registrant, "registrant.self_update", f"registrant:{registrant.id}",
                 {"fields": changed}, ip)
    session.commit()
    return []


def _desired_regions(book: CodeBook, raw: Any) -> tuple[list[Code], list[str]]:
    """The desired work regions (region codes) a registrant chose, or why they cannot be stored."""
    codes: list[Code] = []
    errors: list[str] = []
    for value in list(raw or [])[:MAX_DESIRED_REGIONS]:
        code = book.find(CodeKind.REGION.value, str(value))
        if code is None:
            errors.append(str(_l("勤務を希望する地域「%(value)s」はコードマスタにありません", value=str(value)[:40])))
        elif code not in codes:
            codes.append(code)
    return codes, errors


def _differs(registrant: Registrant, name: str, values: dict[str, Any], codes: list[Any]) -> bool:
    if name == "region":
        return registrant.region_id != (values["region"].id if values["region"] else None)
    kinds = {"licences": "licence", "subjects": "subject", "job_types": "job_type", "school_types": "school_type"}
    if name in kinds:
        return {c.id for c in registrant.codes_of(kinds[name])} != {c.id for c in codes if c.kind == kinds[name]}
    return (getattr(registrant, name) or None) != (values.get(name) or None)
