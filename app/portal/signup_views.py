"""Self-registration pages (N1): the QR landing, the sign-up form, and the e-mail verification link.

Only when `self_registration` is ``open`` or ``approval``; with ``off`` the sign-up form is a 404 and
a QR code leads to the guide, which explains how to register through the e-application system.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _

from app.auth.tokens import Purpose
from app.auth.web import client_ip, is_registrant, settings
from app.extensions import db, limiter
from app.portal import forms, links
from app.portal.account_views import link_problem, password_by_link, start_session_after_link
from app.registrants import signup

bp = Blueprint("signup", __name__)
bp.record_once(lambda _state: links.install_log_redaction())
REFERRAL_SESSION_KEY = "referral_code"


def _rate_limit() -> str:
    return settings().login_rate_limit


@bp.get("/r/<code>")
@limiter.limit(_rate_limit)
def referral(code: str) -> Any:
    """A printed QR code: remember which one (for the sign-up it leads to), then go to the form."""
    referral_id = signup.active_referral_id(db.session, code)
    if referral_id is not None:
        session[REFERRAL_SESSION_KEY] = referral_id
    if not signup.is_open(settings()):
        return redirect(url_for("portal.guide"))
    return redirect(url_for(".register"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def register() -> Any:
    if not signup.is_open(settings()):
        abort(404)
    if is_registrant():
        flash(_("すでにログインしています。登録情報はこのページで確認できます。"), "info")
        return redirect(url_for("portal.me"))
    form = forms.RegistrationForm()
    form.load_choices(db.session)
    errors: list[str] = []
    if form.validate_on_submit():
        referral_id = session.get(REFERRAL_SESSION_KEY)
        result = signup.register(
            db.session, settings(), form.record_fields(), privacy_consent=bool(form.privacy_consent.data),
            mail_consent=bool(form.mail_consent.data), data_use_consent=bool(form.data_use_consent.data),
            referral_id=referral_id if isinstance(referral_id, int) else None, ip=client_ip())
        if not result.errors:
            session.pop(REFERRAL_SESSION_KEY, None)
            return redirect(url_for(".register_sent"))
        db.session.rollback()
        errors = result.errors
    return render_template("portal/register.html", form=form, errors=errors, mode=signup.mode(settings()),
                           privacy_version=settings().privacy_notice_version)


@bp.get("/register/sent")
def register_sent() -> Any:
    return render_template("portal/register_sent.html", hours=settings().invitation_valid_hours)


@bp.get("/register/verified")
def verified() -> Any:
    return render_template("portal/verified_pending.html")


@bp.get("/register/verify/<token>")
@limiter.limit(_rate_limit)
@links.no_referrer
def verify_link(token: str) -> Any:
    return links.stash(Purpose.VERIFY, token, ".verify")


@bp.route("/register/verify", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
@links.no_referrer
def verify() -> Any:
    token = links.stashed(Purpose.VERIFY)
    link = signup.verification_link(db.session, token)
    if not link.ok:
        return link_problem(link.problem, Purpose.VERIFY)
    if signup.mode(settings()) != "open":  # approval (or registration closed since): staff decide
        confirm = forms.ConfirmForm()
        if confirm.validate_on_submit():
            outcome = signup.verify_for_approval(db.session, token, client_ip())
            if outcome.problem:
                return link_problem(outcome.problem, Purpose.VERIFY)
            links.forget(Purpose.VERIFY)
            return redirect(url_for(".verified"))
        return render_template("portal/verify_confirm.html", form=confirm, registrant=link.registrant)

    def welcome(registrant: Any) -> Any:
        start_session_after_link(registrant, "verification")
        flash(_("メールアドレスを確認し、登録が完了しました。ようこそ、つなぐへ。"), "info")
        return redirect(url_for("portal.me"))

    return password_by_link(
        Purpose.VERIFY,
        lambda password: signup.verify_and_set_password(db.session, settings(), token, password, client_ip()),
        welcome, "portal/verify_password.html", registrant=link.registrant)
