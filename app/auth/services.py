"""Logging in and out, lock-out, password changes and server-side login sessions.

Plain functions over an explicit SQLAlchemy session, so views, the CLI and tests
call the same code.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.auth import authlog
from app.auth.models import LoginSession
from app.auth.passwords import hash_password, needs_rehash, policy_errors, verify_password
from app.core.timeutil import utcnow

if TYPE_CHECKING:
    from app.config import Settings


class LoginOutcome(enum.Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"  # also used for unknown, disabled and locked accounts
    LOCKED_NOW = "locked_now"
    SECOND_FACTOR = "second_factor"  # password right; a one-time code (TOTP) must follow


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    account: Any = None


REALM_OF_KIND = {"staff": "admin", "registrant": "portal"}


def _account_model(kind: str) -> Any:
    from app.registrants.models import Registrant
    from app.staff.models import StaffUser

    return {"staff": StaffUser, "registrant": Registrant}[kind]


def find_account(session: Session, kind: str, email: str) -> Any:
    model = _account_model(kind)
    return session.scalar(sa.select(model).where(sa.func.lower(model.email) == email.strip().lower()))


def load_account(session: Session, kind: str, account_id: int) -> Any:
    if kind not in REALM_OF_KIND:
        return None
    return session.get(_account_model(kind), account_id)


def authenticate(session: Session, settings: Settings, kind: str, email: str, password: str, ip: str) -> LoginResult:
    """Check a login attempt and update the lock-out counters. Commits.

    The caller shows the same message for every failure, so the answer never
    reveals whether the account exists or is locked.
    """
    realm = REALM_OF_KIND[kind]
    now = utcnow()
    account = find_account(session, kind, email)
    password_ok = verify_password(account.password_hash if account else None, password)
    if account is None or not account.is_active:
        authlog.login_failure(realm, ip, "unknown_or_disabled")
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if account.is_locked(now):
        authlog.login_failure(realm, ip, "locked")
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if not password_ok:
        locked_now = _count_failure(account, settings, now)
        authlog.login_failure(realm, ip, "bad_credentials")
        if locked_now:
            authlog.account_locked(realm, ip, f"{kind}#{account.id}")
            audit.record(session, audit.SYSTEM, "auth.lock", f"{kind}:{account.id}",
                         {"failures": account.failed_login_count}, ip)
        session.commit()
        return LoginResult(LoginOutcome.LOCKED_NOW if locked_now else LoginOutcome.BAD_CREDENTIALS)
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    if needs_second_factor(account):
        # the failure count stays until the code is right too, so a known password cannot be used
        # to reset the count between guesses at the code
        session.commit()
        return LoginResult(LoginOutcome.SECOND_FACTOR, account)
    _succeeded(account, now)
    session.commit()
    return LoginResult(LoginOutcome.OK, account)


def needs_second_factor(account: Any) -> bool:
    return getattr(account, "totp_enabled_at", None) is not None


def _succeeded(account: Any, now: datetime) -> None:
    account.failed_login_count = 0
    account.failure_window_started_at = None
    account.locked_until = None
    account.last_login_at = now


def verify_second_factor(session: Session, settings: Settings, kind: str, account_id: int, code: str,
                         ip: str) -> LoginResult:
    """Check the one-time code of a login whose password was right. Commits.

    A wrong or reused code counts toward the same lock-out as a wrong password and is logged the same way.
    """
    from app.auth import totp

    realm = REALM_OF_KIND[kind]
    now = utcnow()
    account = load_account(session, kind, account_id)
    if account is None or not account.is_active or not needs_second_factor(account):
        authlog.login_failure(realm, ip, "unknown_or_disabled")
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if account.is_locked(now):
        authlog.login_failure(realm, ip, "locked")
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    if not totp.consume(account, code):
        locked_now = _count_failure(account, settings, now)
        authlog.login_failure(realm, ip, "bad_totp")
        if locked_now:
            authlog.account_locked(realm, ip, f"{kind}#{account.id}")
            audit.record(session, audit.SYSTEM, "auth.lock", f"{kind}:{account.id}",
                         {"failures": account.failed_login_count}, ip)
        session.commit()
        return LoginResult(LoginOutcome.LOCKED_NOW if locked_now else LoginOutcome.BAD_CREDENTIALS)
    _succeeded(account, now)
    session.commit()
    return LoginResult(LoginOutcome.OK, account)


def _count_failure(account: Any, settings: Settings, now: datetime) -> bool:
    """Count one failure inside the sliding window; lock when the threshold is reached."""
    window = timedelta(minutes=settings.lockout_window_minutes)
    started = account.failure_window_started_at
    if started is None or now - started > window:
        account.failure_window_started_at = now
        account.failed_login_count = 0
    account.failed_login_count += 1
    if account.failed_login_count >= settings.lockout_threshold:
        account.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        return True
    return False


def unlock(session: Session, actor: Any, account: Any, ip: str | None = None) -> None:
    account.locked_until = None
    account.failed_login_count = 0
    account.failure_window_started_at = None
    audit.record(session, actor, "auth.unlock", f"{account.account_kind}:{account.id}", {}, ip)
    session.commit()


def locked_accounts(session: Session, kind: str) -> list[Any]:
    model = _account_model(kind)
    return list(session.scalars(
        sa.select(model).where(model.locked_until > utcnow()).order_by(model.locked_until.desc())
    ))


def locked_count(now: Any) -> sa.ColumnElement[int]:
    """Registrant and staff accounts locked at `now` (a value or a bound parameter), as one SQL expression."""
    registrants, staff = (sa.select(sa.func.count()).where(model.locked_until > now).scalar_subquery()
                          for model in (_account_model("registrant"), _account_model("staff")))
    return registrants + staff


def check_new_password(settings: Settings, password: str, login: str) -> list[str]:
    return policy_errors(
        password, login, min_length=settings.password_min_length,
        require_classes=settings.password_require_classes,
    )


def change_own_password(session: Session, settings: Settings, account: Any, current_password: str,
                        new_password: str, ip: str | None = None) -> dict[str, list[str]]:
    """Change a password the user knows; returns field errors, empty on success (then logged out everywhere)."""
    if not verify_password(account.password_hash, current_password):
        return {"current_password": [str(_l("現在のパスワードが正しくありません。"))]}
    problems = check_new_password(settings, new_password, account.email)
    if not problems and getattr(account, "must_change_password", False) and new_password == current_password:
        problems = [str(_l("現在とは別のパスワードを設定してください。"))]
    if problems:
        return {"new_password": problems}
    set_password(session, account, account, new_password, ip)
    return {}


def set_password(session: Session, actor: Any, account: Any, password: str, ip: str | None = None) -> None:
    """Store a new password and end every login session of the account (logout everywhere)."""
    account.password_hash = hash_password(password)
    account.password_changed_at = utcnow()
    if getattr(account, "must_change_password", False):
        account.must_change_password = False
    end_all_sessions(session, account)
    audit.record(session, actor, "auth.password_change", f"{account.account_kind}:{account.id}", {}, ip)
    session.commit()


# --- server-side login sessions ---------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(session: Session, account: Any) -> str:
    """Create a login session and return the token for the cookie (never stored in clear)."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_token_hash(token), account_kind=account.account_kind,
                             account_id=account.id))
    session.commit()
    return token


@cache
def _live_session_query(kind: str) -> sa.Select[Any]:
    """The login session's times and its account, by token hash and account id. Built once per kind and
    reused: assembling the statement cost about three times as much as running it, on every logged-in
    request. The session is read as plain columns: only the account is needed as an object."""
    model = _account_model(kind)
    return (sa.select(LoginSession.id, LoginSession.created_at, LoginSession.last_seen_at, model)
            .join(model, model.id == LoginSession.account_id)
            .where(LoginSession.token_hash == sa.bindparam("token_hash"), LoginSession.account_kind == kind,
                   LoginSession.account_id == sa.bindparam("account_id")))


def resume_session(session: Session, settings: Settings, token: str | None, kind: str, account_id: int) -> Any:
    """The account, if the token is a live session of it (one query for both); expired sessions are deleted."""
    if not token or kind not in REALM_OF_KIND:
        return None
    found = session.execute(_live_session_query(kind),
                            {"token_hash": _token_hash(token), "account_id": account_id}).first()
    if found is None:
        return None
    session_id, created_at, last_seen_at, account = found
    now = utcnow()
    idle = now - last_seen_at > timedelta(minutes=settings.session_idle_minutes)
    too_old = now - created_at > timedelta(hours=settings.session_absolute_hours)
    if idle or too_old:
        session.execute(sa.delete(LoginSession).where(LoginSession.id == session_id))
        session.commit()
        return None
    if now - last_seen_at > timedelta(seconds=30):
        session.execute(sa.update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=now))
        session.commit()
    return account


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(sa.delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
        session.commit()


def end_all_sessions(session: Session, account: Any) -> None:
    session.execute(sa.delete(LoginSession).where(
        LoginSession.account_kind == account.account_kind, LoginSession.account_id == account.id))
