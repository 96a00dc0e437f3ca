"""One-time links (invitation, password reset, e-mail verification): issue, check, use once."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import AccountToken
from app.core.timeutil import utcnow


class Purpose(enum.StrEnum):
    INVITE = "invite"
    RESET = "reset"
    VERIFY = "verify"


class TokenProblem(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True)
class TokenCheck:
    token: AccountToken | None
    problem: TokenProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(session: Session, account: Any, purpose: Purpose, valid_for: timedelta, *, new_account: bool = False) -> str:
    """A new token for the account; earlier unused tokens of the same purpose stop working.

    `new_account=True` skips looking for earlier tokens (a sync creating thousands of accounts saves a query each).
    """
    now = utcnow()
    if not new_account:
        _expire_earlier(session, account, purpose, now)
    token = secrets.token_urlsafe(32)
    session.add(AccountToken(purpose=purpose.value, token_hash=_hash(token), account_kind=account.account_kind,
                             account_id=account.id, created_at=now, expires_at=now + valid_for))
    return token


def _expire_earlier(session: Session, account: Any, purpose: Purpose, now: Any) -> None:
    session.execute(
        sa.update(AccountToken)
        .where(AccountToken.account_kind == account.account_kind, AccountToken.account_id == account.id,
               AccountToken.purpose == purpose.value, AccountToken.used_at.is_(None), AccountToken.expires_at > now)
        .values(expires_at=now)
    )


def check(session: Session, token: str, purpose: Purpose) -> TokenCheck:
    if len(token) > 100:
        return TokenCheck(None, TokenProblem.UNKNOWN)
    row = session.scalar(sa.select(AccountToken).where(AccountToken.token_hash == _hash(token),
                                                       AccountToken.purpose == purpose.value))
    if row is None:
        return TokenCheck(None, TokenProblem.UNKNOWN)
    if row.used_at is not None:
        return TokenCheck(row, TokenProblem.USED)
    if row.expires_at <= utcnow():
        return TokenCheck(row, TokenProblem.EXPIRED)
    return TokenCheck(row, None)


def mark_used(session: Session, token_row: AccountToken) -> bool:
    """Use the token; False if another request used it first (the link works exactly once)."""
    used = session.execute(
        sa.update(AccountToken).where(AccountToken.id == token_row.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow())
    ).rowcount
    return bool(used)
