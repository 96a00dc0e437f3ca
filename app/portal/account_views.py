"""Mailed account links: set the first password (invitation), and reset a forgotten one. No login needed.

`/account/setup/<token>` and `/account/reset/<token>` only move the token into the session and
redirect (see app.portal.links); the token-less pages show the form, and only their POST uses the link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from app import audit
from app.analytics.recording import record_login
from app.auth.tokens import Purpose, TokenProblem
from app.auth.web import client_ip, log_in, settings
from app.core.timeutil import utcnow
from app.extensions import db, limiter
from app.portal import forms, links, services

bp = Blueprint("account", __name__, url_prefix="/account")
bp.record_once(lambda _state: links.install_log_redaction())


def _rate_limit() -> str:
    return settings().login_rate_limit


def link_problem(problem: TokenProblem | None, purpose: Purpose) -> Any:
    """The page for a link that cannot be used: what happened and how to get a new one. Nothing changes."""
    links.forget(purpose)
    status = 410 if problem in {TokenProblem.USED, TokenProblem.EXPIRED} else 400
    return render_template("portal/link_problem.html", problem=(problem or TokenProblem.UNKNOWN).value,
                           purpose=purpose.value), status


def start_session_after_link(registrant: Any, via: str) -> None:
    """The link proved the mailbox and the password was just chosen: log in at once."""
    log_in(registrant)
    registrant.last_login_at = utcnow()
    audit.record(db.session, registrant, "auth.login", f"registrant:{registrant.id}", {"via": via}, client_ip())
    db.session.commit()
    record_login(registrant.id)


def password_by_link(purpose: Purpose, apply: Callable[[str], Any], done: Callable[[Any], Any], template: str,
                     **context: Any) -> Any:
    """The form behind a mailed link: `apply(password)` uses the link; `done(registrant)` answers on success."""
    form = forms.NewPasswordForm()
    if form.validate_on_submit():
        outcome = apply(form.new_password.data)
        if outcome.problem:
            return link_problem(outcome.problem, purpose)
        if outcome.done:
            return done(outcome.registrant)
        form.new_password.errors = [*form.new_password.errors, *outcome.errors]
    return render_template(template, form=form, **context)


# --- invitation: the first password -------------------------------------------------------------------------

@bp.get("/setup/<token>")
@limiter.limit(_rate_limit)
@links.no_referrer
def setup_link(token: str) -> Any:
    return links.stash(Purpose.INVITE, token, ".setup")


@bp.route("/setup", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
@links.no_referrer
def setup() -> Any:
    token = links.stashed(Purpose.INVITE)
    link = services.check_link(db.session, token, Purpose.INVITE)
    if not link.ok:
        return link_problem(link.problem, Purpose.INVITE)

    def welcome(registrant: Any) -> Any:
        start_session_after_link(registrant, "invitation")
        flash(_("パスワードを設定しました。ようこそ、つなぐへ。"), "info")
        return redirect(url_for("portal.me"))

    return password_by_link(
        Purpose.INVITE,
        lambda password: services.set_password_with_link(db.session, settings(), token, Purpose.INVITE, password,
                                                         client_ip()),
        welcome, "portal/account_setup.html", registrant=link.registrant, hours=settings().invitation_valid_hours)


# --- password reset ---------------------------------------------------------------------------------------

@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def reset_request() -> Any:
    form = forms.ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(db.session, settings(), form.email.data, client_ip())
        return redirect(url_for(".reset_sent"))  # the same answer whether the address is registered or not
    return render_template("portal/reset_request.html", form=form)


@bp.get("/reset-sent")
def reset_sent() -> Any:
    return render_template("portal/reset_sent.html", minutes=settings().reset_valid_minutes)


@bp.get("/reset/<token>")
@limiter.limit(_rate_limit)
@links.no_referrer
def reset_link(token: str) -> Any:
    return links.stash(Purpose.RESET, token, ".new_password")


@bp.route("/new-password", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
@links.no_referrer
def new_password() -> Any:
    token = links.stashed(Purpose.RESET)
    link = services.check_link(db.session, token, Purpose.RESET)
    if not link.ok:
        return link_problem(link.problem, Purpose.RESET)

    def to_login(_registrant: Any) -> Any:
        links.forget(Purpose.RESET)
        flash(_("パスワードを再設定しました。すべての端末でログアウトしましたので、新しいパスワードでログインしてください。"),
              "info")
        return redirect(url_for("portal.login"))

    return password_by_link(
        Purpose.RESET,
        lambda password: services.set_password_with_link(db.session, settings(), token, Purpose.RESET, password,
                                                         client_ip()),
        to_login, "portal/new_password.html", registrant=link.registrant)
