"""Self-registration (N1): sign-up with e-mail verification, staff approval, QR referral codes, mail invitations.

`settings.self_registration` decides the flow:

* ``off``: no sign-up page (registrants come from the e-application system or an import);
* ``open``: the verification link lets the person set a password, and the registration is active;
* ``approval``: the verified registration waits, ``pending``, until staff approve it; approval sends
  the usual invitation (a link to set a password).

A sign-up form never tells whether an address is already registered: the page says the same thing,
and the mail to that address explains instead.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import segno
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.auth import tokens
from app.auth.tokens import Purpose, TokenProblem
from app.core.timeutil import fiscal_year_end, utcnow
from app.mail.models import OutboxMessage
from app.mail.services import enqueue
from app.portal.services import LinkOutcome, check_link, set_password_with_link
from app.registrants.accounts import send_invitation
from app.registrants.models import (
    ConsentKind,
    ConsentRecord,
    ReferralCode,
    Registrant,
    RegistrantSource,
    RegistrantStatus,
    StatusChange,
)
from app.registrants.normalise import name_key, registrant_search_text
from app.registrants.records import CodeBook, Validated, change_status, validate

VERIFY_PATH = "/register/verify/"
REGISTER_PATH = "/register"
REFERRAL_PATH = "/r/"
# one "already registered" or repeated verification mail per address in this period
NOTICE_INTERVAL = timedelta(minutes=10)
MEDIUMS = ("pamphlet", "poster", "event", "web", "other")


class SignupError(Exception):
    """A staff action that cannot be done; the message is for the user."""


def mode(settings: Any) -> str:
    return str(settings.self_registration)


def is_open(settings: Any) -> bool:
    return mode(settings) != "off"


# --- sign-up -----------------------------------------------------------------------------------------------

SIGNUP_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana", "email", "birth_date",
                 "phone", "region", "licences", "subjects", "job_types", "school_types")


@dataclass(frozen=True)
class SignupResult:
    """`errors` are shown with the form; otherwise the page says "check your mail", whatever happened."""

    errors: list[str]


def register(session: Session, settings: Any, fields: dict[str, Any], *, privacy_consent: bool, mail_consent: bool,
             data_use_consent: bool, referral_id: int | None, ip: str | None) -> SignupResult:
    """Create a pending self-registration and mail a verification link (or, for a known address, a notice).

    Validation uses the same rules as sync and import (records.validate). Commits.
    """
    if not privacy_consent:
        return SignupResult([str(_l("個人情報の取扱いへの同意が必要です。"))])
    record = {name: fields.get(name) for name in SIGNUP_FIELDS}
    record |= {"mail_consent": mail_consent, "data_use_consent": data_use_consent,
               "privacy_notice_version": settings.privacy_notice_version}
    checked = validate(record, CodeBook(session))
    if checked.errors:
        return SignupResult(checked.errors)
    existing = session.scalar(sa.select(Registrant).where(
        sa.func.lower(Registrant.email) == checked.values["email"].lower()))
    if existing is not None:
        _notify_existing(session, settings, existing, ip)
        session.commit()
        return SignupResult([])
    registrant = _create(session, settings, checked, referral_id)
    audit.record(session, registrant, "registrant.self_registered", f"registrant:{registrant.id}",
                 {"referral_id": registrant.referral_id, "mode": mode(settings)}, ip)
    send_verification(session, settings, registrant)
    session.commit()
    return SignupResult([])


def _create(session: Session, settings: Any, checked: Validated, referral_id: int | None) -> Registrant:
    values = checked.values
    referral = session.get(ReferralCode, referral_id) if referral_id else None
    registrant = Registrant(
        source=RegistrantSource.SELF.value, status=RegistrantStatus.PENDING.value,
        referral_id=referral.id if referral is not None else None,
        family_name=values["family_name"], given_name=values["given_name"],
        family_name_kana=values["family_name_kana"], given_name_kana=values["given_name_kana"],
        email=values["email"], birth_date=values["birth_date"], phone=values["phone"],
        mail_consent=values["mail_consent"], data_use_consent=values["data_use_consent"],
        privacy_notice_version=settings.privacy_notice_version,
        valid_until=fiscal_year_end(utcnow().date()), status_changed_at=utcnow(),
        name_key=name_key(values["family_name"], values["given_name"]),
        search_text=registrant_search_text(values["family_name"], values["given_name"],
                                           values["family_name_kana"], values["given_name_kana"]),
    )
    registrant.region = values["region"]
    registrant.codes = list(checked.codes)
    session.add(registrant)
    session.flush()
    session.add(StatusChange(registrant_id=registrant.id, from_status=None, to_status=RegistrantStatus.PENDING.value,
                             reason="self_registration"))
    source = RegistrantSource.SELF.value
    version = settings.privacy_notice_version
    session.add_all([
        ConsentRecord(registrant_id=registrant.id, kind=ConsentKind.PRIVACY_NOTICE.value, granted=True,
                      notice_version=version, source=source),
        ConsentRecord(registrant_id=registrant.id, kind=ConsentKind.MAIL.value, granted=registrant.mail_consent,
                      notice_version=version, source=source),
        ConsentRecord(registrant_id=registrant.id, kind=ConsentKind.DATA_USE.value,
                      granted=registrant.data_use_consent, notice_version=version, source=source),
    ])
    return registrant


def send_verification(session: Session, settings: Any, registrant: Registrant) -> None:
    token = tokens.issue(session, registrant, Purpose.VERIFY, timedelta(hours=settings.invitation_valid_hours))
    link = settings.public_url(VERIFY_PATH + token)
    if mode(settings) == "open":
        next_step = _l("リンクを開くとメールアドレスの確認が終わり、続けてパスワードを設定できます。")
    else:
        next_step = _l("リンクを開いてメールアドレスを確認してください。その後、事務局が登録内容を確認し、"
                       "承認されるとパスワード設定のご案内をお送りします。")
    body = str(_l(
        "%(name)s 様\n\n"
        "つなぐへの登録のお申し込みありがとうございます。\n"
        "%(next_step)s\n\n"
        "%(link)s\n\n"
        "このリンクは%(hours)d時間有効で、1回だけ使えます。\n"
        "お心当たりのない場合は、このメールを破棄してください。登録は完了しません。\n",
        name=registrant.full_name, next_step=str(next_step), link=link, hours=settings.invitation_valid_hours))
    enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】メールアドレスの確認のお願い")), body=body,
            category="verification", registrant_id=registrant.id)


def _recent_mail(session: Session, registrant: Registrant, categories: tuple[str, ...]) -> bool:
    return bool(session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.registrant_id == registrant.id, OutboxMessage.category.in_(categories),
        OutboxMessage.created_at > utcnow() - NOTICE_INTERVAL)))


def _notify_existing(session: Session, settings: Any, registrant: Registrant, ip: str | None) -> None:
    """Someone signed up with a known address: tell the address's owner, not the person at the form."""
    if _recent_mail(session, registrant, ("verification", "already_registered")):
        return
    unfinished = registrant.status == RegistrantStatus.PENDING.value and registrant.email_verified_at is None
    if unfinished:  # they signed up before and never clicked the link: send a fresh one
        send_verification(session, settings, registrant)
    else:
        body = str(_l(
            "%(name)s 様\n\n"
            "このメールアドレスで、つなぐへの登録のお申し込みがありました。\n"
            "このアドレスはすでに登録されていますので、新しい登録は行っていません。\n\n"
            "ログインはこちら: %(login)s\n"
            "パスワードを忘れた場合はこちら: %(reset)s\n\n"
            "退会済みの場合や、お心当たりのない場合は、事務局へご連絡ください。\n",
            name=registrant.full_name, login=settings.public_url("/login"),
            reset=settings.public_url("/account/reset")))
        enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】すでにご登録いただいています")), body=body,
                category="already_registered", registrant_id=registrant.id)
    audit.record(session, audit.SYSTEM, "registrant.signup_repeated", f"registrant:{registrant.id}",
                 {"resent_verification": unfinished}, ip)


# --- verification ---------------------------------------------------------------------------------------

def verification_link(session: Session, token: str | None) -> Any:
    """The link check for the verification page; only a pending registrant has something to verify."""
    link = check_link(session, token, Purpose.VERIFY)
    if link.ok and link.registrant is not None and link.registrant.status != RegistrantStatus.PENDING.value:
        link.problem = TokenProblem.USED
    return link


def verify_and_set_password(session: Session, settings: Any, token: str | None, password: str,
                            ip: str | None) -> LinkOutcome:
    """Open mode: the verification link sets the first password and activates the registration. Commits."""
    if verification_link(session, token).problem is TokenProblem.USED:
        return LinkOutcome(problem=TokenProblem.USED)

    def activate(registrant: Registrant) -> None:
        change_status(session, registrant, RegistrantStatus.ACTIVE, "self_registration_verified")
        audit.record(session, registrant, "registrant.email_verified", f"registrant:{registrant.id}",
                     {"activated": True}, ip)

    return set_password_with_link(session, settings, token, Purpose.VERIFY, password, ip, on_success=activate)


def verify_for_approval(session: Session, token: str | None, ip: str | None) -> LinkOutcome:
    """Approval mode: the address is confirmed; the registration waits for staff. Commits."""
    link = verification_link(session, token)
    if not link.ok or link.registrant is None or link.token is None:
        return LinkOutcome(problem=link.problem or TokenProblem.UNKNOWN)
    if not tokens.mark_used(session, link.token):
        session.rollback()
        return LinkOutcome(problem=TokenProblem.USED)
    registrant = link.registrant
    registrant.email_verified_at = utcnow()
    audit.record(session, registrant, "registrant.email_verified", f"registrant:{registrant.id}",
                 {"activated": False}, ip)
    session.commit()
    return LinkOutcome(registrant=registrant)


# --- staff: approval, rejection, withdrawal -------------------------------------------------------------------

def awaiting_approval(session: Session) -> list[Registrant]:
    return list(session.scalars(sa.select(Registrant).where(
        Registrant.status == RegistrantStatus.PENDING.value, Registrant.email_verified_at.is_not(None))
        .order_by(Registrant.registered_at, Registrant.id)))


def awaiting_verification_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Registrant).where(
        Registrant.status == RegistrantStatus.PENDING.value, Registrant.email_verified_at.is_(None))) or 0)


def withdrawal_requests(session: Session) -> list[Registrant]:
    return list(session.scalars(sa.select(Registrant).where(
        Registrant.withdrawal_requested_at.is_not(None),
        Registrant.status.not_in([RegistrantStatus.WITHDRAWN.value, RegistrantStatus.ANONYMISED.value]))
        .order_by(Registrant.withdrawal_requested_at, Registrant.id)))


def approve(session: Session, settings: Any, actor: Any, registrant: Registrant, ip: str | None) -> None:
    """Activate a verified self-registration and send the invitation to set a password. Commits."""
    if registrant.status != RegistrantStatus.PENDING.value or registrant.email_verified_at is None:
        raise SignupError(str(_l("この登録は承認できる状態ではありません。")))
    change_status(session, registrant, RegistrantStatus.ACTIVE, "approved")
    registrant.approved_at = utcnow()
    audit.record(session, actor, "registrant.approve", f"registrant:{registrant.id}", {}, ip)
    send_invitation(session, settings, registrant)
    session.commit()


def reject(session: Session, actor: Any, registrant: Registrant, ip: str | None) -> None:
    """Refuse a pending self-registration (it is kept as withdrawn, in the history). Commits."""
    if registrant.status != RegistrantStatus.PENDING.value:
        raise SignupError(str(_l("この登録は承認待ちではありません。")))
    change_status(session, registrant, RegistrantStatus.WITHDRAWN, "registration_rejected")
    audit.record(session, actor, "registrant.reject", f"registrant:{registrant.id}", {}, ip)
    session.commit()


def complete_withdrawal(session: Session, actor: Any, registrant: Registrant, ip: str | None) -> None:
    """Staff carry out a registrant's withdrawal request and confirm it by mail. Commits."""
    if registrant.withdrawal_requested_at is None or registrant.status in {RegistrantStatus.WITHDRAWN.value,
                                                                            RegistrantStatus.ANONYMISED.value}:
        raise SignupError(str(_l("退会の申し出はありません。")))
    change_status(session, registrant, RegistrantStatus.WITHDRAWN, "withdrawal_request")
    body = str(_l("%(name)s 様\n\nつなぐの退会手続きが完了しました。これまでのご登録ありがとうございました。\n"
                  "今後、つなぐからのお知らせは届きません。\n", name=registrant.full_name))
    enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】退会手続きが完了しました")), body=body,
            category="withdrawal_done", registrant_id=registrant.id)
    audit.record(session, actor, "registrant.withdraw", f"registrant:{registrant.id}",
                 {"reason": "withdrawal_request"}, ip)
    session.commit()


# --- invitations to register, by staff --------------------------------------------------------------------

def invite_to_register(session: Session, settings: Any, actor: Any, email: str, ip: str | None) -> OutboxMessage:
    """Mail the sign-up link to an address; no account exists until the person registers. Commits."""
    if not is_open(settings):
        raise SignupError(str(_l("本人登録が無効になっているため、登録の案内は送れません。")))
    if session.scalar(sa.select(Registrant.id).where(sa.func.lower(Registrant.email) == email.strip().lower())):
        raise SignupError(str(_l("このメールアドレスはすでに登録されています。")))
    body = str(_l(
        "つなぐ(登録者ネットワーク)へのご登録のご案内です。\n\n"
        "学校や行政からの採用情報・研修のご案内などをメールでお届けします。\n"
        "次のページから、数分で登録できます。\n\n"
        "%(link)s\n\n"
        "お心当たりのない場合は、このメールを破棄してください。\n",
        link=settings.public_url(REGISTER_PATH)))
    message = enqueue(session, to=email.strip(), subject=str(_l("【つなぐ】ご登録のご案内")), body=body,
                      category="registration_invite")
    session.flush()
    audit.record(session, actor, "registration.invite", f"outbox:{message.id}", {}, ip)
    session.commit()
    return message


# --- referral QR codes -------------------------------------------------------------------------------------

def list_referrals(session: Session) -> list[tuple[ReferralCode, int]]:
    """Every code, newest first, with how many registrants it brought."""
    counts = dict(session.execute(sa.select(Registrant.referral_id, sa.func.count())
                                  .where(Registrant.referral_id.is_not(None)).group_by(Registrant.referral_id)).all())
    codes = session.scalars(sa.select(ReferralCode).order_by(ReferralCode.created_at.desc(), ReferralCode.id.desc()))
    return [(code, int(counts.get(code.id, 0))) for code in codes]


def create_referral(session: Session, actor: Any, label: str, medium: str, ip: str | None) -> ReferralCode:
    if medium not in MEDIUMS:
        raise SignupError(str(_l("媒体を選んでください。")))
    code = ReferralCode(code=secrets.token_urlsafe(9), label=label.strip()[:100], medium=medium)
    session.add(code)
    session.flush()
    audit.record(session, actor, "referral.create", f"referral:{code.id}", {"medium": medium}, ip)
    session.commit()
    return code


def deactivate_referral(session: Session, actor: Any, code: ReferralCode, ip: str | None) -> None:
    code.is_active = False
    audit.record(session, actor, "referral.deactivate", f"referral:{code.id}", {}, ip)
    session.commit()


def active_referral_id(session: Session, code: str) -> int | None:
    if not code or len(code) > 32:
        return None
    return session.scalar(sa.select(ReferralCode.id).where(ReferralCode.code == code,
                                                           ReferralCode.is_active.is_(True)))


def referral_url(settings: Any, code: ReferralCode) -> str:
    return str(settings.public_url(REFERRAL_PATH + code.code))


def qr_image(settings: Any, code: ReferralCode, kind: str) -> bytes:
    """The QR code of the code's landing URL as PNG or SVG, big enough to print (error correction M)."""
    qr = segno.make(referral_url(settings, code), error="m", micro=False)
    buffer = io.BytesIO()
    if kind == "png":
        qr.save(buffer, kind="png", scale=10, border=4)
    else:
        qr.save(buffer, kind="svg", scale=10, border=4, xmldecl=True, svgns=True,
                title=referral_url(settings, code))
    return buffer.getvalue()
