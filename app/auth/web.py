"""Glue between the auth services and Flask: who is logged in, and what a view requires.

The Flask session cookie carries only Flask-Login's account key ("staff:3") and a
random login-session token; the token must match a live `LoginSession` row, so
logout, idle timeout and "logout everywhere" take effect on the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, flash, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from app import audit
from app.auth import services
from app.core.redirects import safe_next
from app.extensions import db, login_manager

F = TypeVar("F", bound=Callable[..., Any])
SESSION_TOKEN_KEY = "login_token"  # noqa: S105 (a session key name, not a secret)


def settings() -> Any:
    return current_app.extensions["tsunagu.settings"]


def client_ip() -> str:
    return request.remote_addr or "-"


@login_manager.user_loader
def _load_user(user_key: str) -> Any:
    kind, _, raw_id = user_key.partition(":")
    if not raw_id.isdigit():
        return None
    account = services.resume_session(db.session, settings(), session.get(SESSION_TOKEN_KEY), kind, int(raw_id))
    if account is None or not account.is_active:
        return None
    return account


def log_in(account: Any) -> None:
    """Start a fresh session: everything in the old cookie is dropped (no fixation)."""
    session.clear()
    session[SESSION_TOKEN_KEY] = services.start_session(db.session, account)
    login_user(account, remember=False, fresh=True)
    session.permanent = True


def log_out() -> None:
    services.end_session(db.session, session.get(SESSION_TOKEN_KEY))
    logout_user()
    session.clear()


def login_from_form(kind: str, form: Any, home: str) -> str | None:
    """Check a submitted login form. On success start the session and return where to go next.

    Every failure gets the same message, so the page never tells whether an account exists.
    A saved "next" page is followed only inside the realm that logged in.
    """
    result = services.authenticate(db.session, settings(), kind, form.email.data, form.password.data, client_ip())
    if result.outcome not in (services.LoginOutcome.OK, services.LoginOutcome.SECOND_FACTOR):
        flash(_("メールアドレスまたはパスワードが正しくありません。"
                "続けて失敗するとアカウントが一定時間ロックされます。"), "error")
        return None
    target = safe_next(session.get("next"), home)
    if target.startswith("/admin") != (kind == "staff"):
        target = home
    if result.outcome is services.LoginOutcome.SECOND_FACTOR:
        return _await_second_factor(result.account, target)
    return _complete_login(result.account, target)


def _complete_login(account: Any, target: str, **detail: Any) -> str:
    log_in(account)
    audit.record(db.session, account, "auth.login", f"{account.account_kind}:{account.id}", detail, client_ip())
    db.session.commit()
    return target


# --- the second step of a two-factor login --------------------------------------------------
# Between a right password and a right code nothing is logged in: the signed session cookie holds
# only which account is half-way, until when, and where to go afterwards.

PENDING_KEY = "second_factor"
SECOND_FACTOR_SECONDS = 300


def _await_second_factor(account: Any, target: str) -> str:
    session.clear()
    session[PENDING_KEY] = {"kind": account.account_kind, "id": account.id,
                            "until": int(time.time()) + SECOND_FACTOR_SECONDS, "next": target}
    return url_for("admin.login_code")


def pending_second_factor() -> dict[str, Any] | None:
    """The half-finished login of this browser, or None (none, or expired)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or int(pending.get("until", 0)) < time.time():
        session.pop(PENDING_KEY, None)
        return None
    return pending


def second_factor_from_form(form: Any) -> str | None:
    """Check the one-time code of the pending login. On success log in and return where to go next."""
    pending = pending_second_factor()
    if pending is None:
        return None
    result = services.verify_second_factor(db.session, settings(), pending["kind"], int(pending["id"]),
                                           form.code.data, client_ip())
    if result.outcome is not services.LoginOutcome.OK:
        if result.outcome is services.LoginOutcome.LOCKED_NOW:
            session.pop(PENDING_KEY, None)
        flash(_("確認コードが正しくありません。続けて失敗するとアカウントが一定時間ロックされます。"), "error")
        return None
    return _complete_login(result.account, safe_next(pending.get("next"), url_for("admin.dashboard")),
                           second_factor="totp")


def change_password_from_form(form: Any) -> bool:
    """Apply a submitted own-password form; on success the user is logged out everywhere."""
    errors = services.change_own_password(db.session, settings(), current_user, form.current_password.data,
                                          form.new_password.data, client_ip())
    for field, messages in errors.items():
        form[field].errors.extend(messages)
    if errors:
        return False
    log_out()
    return True


def is_staff() -> bool:
    return bool(current_user.is_authenticated and current_user.account_kind == "staff")


def is_registrant() -> bool:
    return bool(current_user.is_authenticated and current_user.account_kind == "registrant")


# --- declarative permissions ---------------------------------------------------------------
# A view says what it needs; the admin blueprint's before_request enforces it and refuses
# any view that declares nothing (deny by default).

REQUIRED_ATTR = "_tsunagu_requires"
PUBLIC = "public"


def requires(permission: Any) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, REQUIRED_ATTR, permission)
        return view

    return mark


def public(view: F) -> F:
    setattr(view, REQUIRED_ATTR, PUBLIC)
    return view


def required_permission(endpoint: str | None) -> Any:
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, REQUIRED_ATTR, None)


def registrant_required(view: F) -> F:
    """For portal pages: only a logged-in registrant, and only their own records."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_registrant():
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
