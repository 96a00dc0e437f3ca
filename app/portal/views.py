"""Registrant pages. They load only the logged-in registrant's own records: no ids in URLs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.web import (
    change_password_from_form,
    is_registrant,
    log_out,
    login_from_form,
    registrant_required,
    settings,
)
from app.extensions import limiter

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
        target = login_from_form("registrant", form, url_for(".me"))
        if target:
            return redirect(target)
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
    if form.validate_on_submit() and change_password_from_form(form):
        flash(_("パスワードを変更しました。新しいパスワードでログインしてください。"), "info")
        return redirect(url_for(".login"))
    return render_template("portal/password.html", form=form)
