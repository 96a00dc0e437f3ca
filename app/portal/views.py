"""Registrant pages. They load only the logged-in registrant's own records: no ids in URLs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.analytics.recording import record_login
from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.web import (
    change_password_from_form,
    client_ip,
    is_registrant,
    log_out,
    login_from_form,
    registrant_required,
    settings,
)
from app.extensions import db, limiter
from app.news import services as news
from app.portal import forms, services
from app.registrants.models import ConsentKind

bp = Blueprint("portal", __name__)

STATUS_TEXT = {"pending": _l("確認待ち"), "active": _l("有効"), "expired": _l("期限切れ"),
               "withdrawn": _l("退会"), "anonymised": _l("削除済み")}
SOURCE_TEXT = {"e_application": _l("電子申請システム"), "import": _l("事務局による一括登録"),
               "self": _l("このサイトでのご本人の登録"), "staff": _l("事務局による登録"), "demo": _l("デモデータ")}
CONSENT_TEXT = {"privacy_notice": _l("個人情報の取扱い"), "mail": _l("お知らせメールの受信"),
                "data_use": _l("登録情報の利用")}


def _login_rate_limit() -> str:
    return settings().login_rate_limit


@bp.app_context_processor
def _portal_names() -> dict[str, Any]:
    current = settings()
    return {"self_registration_open": current.self_registration != "off",
            "postings_in_portal": current.portal_show_postings,
            "registrant_status_text": lambda status: STATUS_TEXT.get(status, status),
            "consent_text": lambda kind: CONSENT_TEXT.get(kind, kind)}


def _me() -> Any:
    """The logged-in registrant as a row of this request's session (never an id from the URL)."""
    return current_user._get_current_object()


@bp.get("/")
def index() -> Any:
    return render_template("portal/index.html", news=news.published_news(db.session),
                           videos=news.published_videos(db.session), **_for_registrant())


def _for_registrant() -> dict[str, Any]:
    """What the top page offers a logged-in registrant: articles, surveys to answer, upcoming events."""
    if not is_registrant():
        return {}
    from app.articles.services import latest_for_portal
    from app.events.services import upcoming_for
    from app.surveys.services import open_for

    return {"articles": latest_for_portal(db.session), "open_surveys": open_for(db.session, current_user),
            "upcoming_events": upcoming_for(db.session, current_user)}


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login() -> Any:
    if is_registrant():
        return redirect(url_for(".me"))
    form = LoginForm()
    if form.validate_on_submit():
        target = login_from_form("registrant", form, url_for(".me"))
        if target:
            if is_registrant():
                record_login(current_user.id)
            return redirect(target)
    return render_template("portal/login.html", form=form)


@bp.post("/logout")
def logout() -> Any:
    if is_registrant():
        log_out()
    flash(_("ログアウトしました。"), "info")
    return redirect(url_for(".index"))


@bp.get("/guide")
def guide() -> Any:
    return render_template("portal/guide.html", e_application_url=settings().e_application_url,
                           reset_minutes=settings().reset_valid_minutes)


@bp.get("/privacy")
def privacy() -> Any:
    return render_template("portal/privacy.html", version=settings().privacy_notice_version)


@bp.get("/me")
@registrant_required
def me() -> Any:
    registrant = _me()
    return render_template("portal/me.html", registrant=registrant, source_text=SOURCE_TEXT,
                           may_edit=services.may_edit_profile(registrant),
                           e_application_url=settings().e_application_url)


@bp.route("/me/profile", methods=["GET", "POST"])
@registrant_required
@limiter.limit(_login_rate_limit, methods=["POST"])
def profile() -> Any:
    registrant = _me()
    if not services.may_edit_profile(registrant):
        abort(403)
    form = forms.ProfileForm()
    if not form.is_submitted():
        form.fill_from(registrant)
    form.load_choices(db.session)
    errors: list[str] = []
    if form.validate_on_submit():
        errors = services.update_own_profile(db.session, registrant, form.record_fields(), client_ip())
        if not errors:
            flash(_("登録情報を保存しました。"), "info")
            return redirect(url_for(".me"))
        db.session.rollback()
    return render_template("portal/profile.html", form=form, errors=errors)


@bp.route("/me/preferences", methods=["GET", "POST"])
@registrant_required
def preferences() -> Any:
    registrant = _me()
    form = forms.PreferencesForm()
    if not form.is_submitted():
        form.mail_consent.data = registrant.mail_consent
        form.data_use_consent.data = registrant.data_use_consent
        form.posting_notice_opt_in.data = registrant.posting_notice_opt_in
    if form.validate_on_submit():
        changed = services.update_consents(
            db.session, registrant,
            {ConsentKind.MAIL: bool(form.mail_consent.data), ConsentKind.DATA_USE: bool(form.data_use_consent.data)},
            client_ip())
        notice_changed = services.update_posting_notice(db.session, registrant,
                                                        bool(form.posting_notice_opt_in.data), client_ip())
        flash(_("設定を保存しました。") if changed or notice_changed else _("変更はありませんでした。"), "info")
        return redirect(url_for(".preferences"))
    return render_template("portal/preferences.html", form=form, registrant=registrant,
                           history=services.consent_history(db.session, registrant))


@bp.route("/me/withdraw", methods=["GET", "POST"])
@registrant_required
def withdraw() -> Any:
    registrant = _me()
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        if services.request_withdrawal(db.session, settings(), registrant, client_ip()):
            flash(_("退会のお申し出を受け付けました。確認のメールをお送りしました。"), "info")
        return redirect(url_for(".me"))
    return render_template("portal/withdraw.html", form=form, registrant=registrant)


@bp.route("/me/password", methods=["GET", "POST"])
@registrant_required
def change_password() -> Any:
    form = PasswordChangeForm()
    if form.validate_on_submit() and change_password_from_form(form):
        flash(_("パスワードを変更しました。新しいパスワードでログインしてください。"), "info")
        return redirect(url_for(".login"))
    return render_template("portal/password.html", form=form)
