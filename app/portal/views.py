"""Registrant pages. They load only the logged-in registrant's own records: no ids in URLs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import audit
from app.auth import services as auth
from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.web import client_ip, is_registrant, log_in, log_out, registrant_required, settings
from app.core.i18n import safe_next
from app.extensions import db, limiter

bp = Blueprint("portal", __name__)


def _login_rate_limit() -> str:
    return settings().login_rate_limit


@bp.get("/")
def index() -> Any:
    return render_template("portal/index.html")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login() -> Any:
    if is_registrant():
        return redirect(url_for(".me"))
    form = LoginForm()
    if form.validate_on_submit():
        result = auth.authenticate(db.session, settings(), "registrant", form.email.data, form.password.data,
                                   client_ip())
        if result.outcome is auth.LoginOutcome.OK:
            target = safe_next(session.get("next"), url_for(".me"))
            if target.startswith("/admin"):
                target = url_for(".me")
            log_in(result.account)
            audit.record(db.session, result.account, "auth.login", f"registrant:{result.account.id}", {},
                         client_ip())
            db.session.commit()
            return redirect(target)
        flash(_("メールアドレスまたはパスワードが正しくありません。"
                "続けて失敗するとアカウントが一定時間ロックされます。"), "error")
    return render_template("portal/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    if is_registrant():
        log_out()
    flash(_("ログアウトしました。"), "info")
    return redirect(url_for(".index"))


@bp.get("/me")
@registrant_required
def me() -> Any:
    return render_template("portal/me.html", registrant=current_user)


@bp.route("/me/password", methods=["GET", "POST"])
@registrant_required
def change_password() -> Any:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        errors = auth.change_own_password(db.session, settings(), current_user, form.current_password.data,
                                          form.new_password.data, client_ip())
        for field, messages in errors.items():
            form[field].errors.extend(messages)
        if not errors:
            log_out()
            flash(_("パスワードを変更しました。新しいパスワードでログインしてください。"), "info")
            return redirect(url_for(".login"))
    return render_template("portal/password.html", form=form)
