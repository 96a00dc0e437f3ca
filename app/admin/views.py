"""Admin shell: login (with the two-factor step), own account, dashboard, registrants (read), locked accounts,
audit history. Staff users are managed in app.staff.views."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import figures, forms, render, staff_blueprint
from app.auth import services as auth
from app.auth import totp
from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.web import (
    change_password_from_form,
    client_ip,
    is_staff,
    log_out,
    login_from_form,
    pending_second_factor,
    public,
    requires,
    second_factor_from_form,
    settings,
)
from app.core.redirects import safe_next
from app.core.timeutil import utcnow
from app.correspondence import services as correspondence
from app.extensions import db, limiter
from app.registrants import services as registrants
from app.registrants.models import Registrant
from app.staff import forms as staff_forms
from app.staff import services as staff_service
from app.staff.models import Permission, StaffUser

bp = staff_blueprint("admin", __name__, "/admin")


def _login_rate_limit() -> str:
    return settings().login_rate_limit


# --- login / logout / own password ----------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate_limit, methods=["POST"])
def login() -> Any:
    if is_staff():
        return redirect(url_for(".dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        target = login_from_form("staff", form, url_for(".dashboard"))
        if target:
            return redirect(target)
    return render_template("admin/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@public
@limiter.limit(_login_rate_limit, methods=["POST"])
def login_code() -> Any:
    """The second step of a two-factor login: the six-digit code from the authenticator app."""
    if is_staff():
        return redirect(url_for(".dashboard"))
    if pending_second_factor() is None:
        flash(_("時間が経ったため、ログインをやり直してください。"), "error")
        return redirect(url_for(".login"))
    form = staff_forms.CodeForm()
    if form.validate_on_submit():
        target = second_factor_from_form(form)
        if target:
            return redirect(target)
        if pending_second_factor() is None:
            return redirect(url_for(".login"))
    return render_template("admin/login_code.html", form=form)


@bp.post("/logout")
@public
def logout() -> Any:
    if is_staff():
        log_out()
    flash(_("ログアウトしました。"), "info")
    return redirect(url_for(".login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.VIEW)
def change_password() -> Any:
    form = PasswordChangeForm()
    if form.validate_on_submit() and change_password_from_form(form):
        flash(_("パスワードを変更しました。すべての端末でログアウトしたので、新しいパスワードでログインしてください。"),
              "info")
        return redirect(url_for(".login"))
    return render("admin/password.html", [(_l("アカウント"), url_for(".account")), (_l("パスワード変更"), None)],
                  form=form, forced=current_user.must_change_password)


@bp.get("/account")
@requires(Permission.VIEW)
def account() -> Any:
    return render("admin/account.html", [(_l("アカウント"), None)], user=current_user,
                  totp_required=staff_service.totp_required(settings(), current_user),
                  disable_form=staff_forms.CodeForm())


@bp.route("/account/totp", methods=["GET", "POST"])
@requires(Permission.VIEW)
def totp_setup() -> Any:
    """Enrol in two-factor login: scan the QR code (or type the key), then confirm with a code."""
    user = current_user._get_current_object()
    if user.totp_enabled_at is not None:
        return redirect(url_for(".account"))
    secret = staff_service.begin_totp_enrolment(db.session, user)
    form = staff_forms.CodeForm()
    if form.validate_on_submit():
        if staff_service.confirm_totp_enrolment(db.session, user, form.code.data, client_ip()):
            flash(_("二要素認証を設定しました。次回のログインから確認コードが必要です。"), "info")
            return redirect(url_for(".account"))
        form.code.errors.append(_("確認コードが正しくありません。アプリに表示されている最新のコードを入力してください。"))
    uri = totp.provisioning_uri(secret, user.email)
    return render("admin/totp_setup.html", [(_l("アカウント"), url_for(".account")), (_l("二要素認証の設定"), None)],
                  form=form, qr=totp.qr_data_uri(uri), secret=totp.grouped(secret),
                  required=staff_service.totp_required(settings(), user))


@bp.post("/account/totp/disable")
@requires(Permission.VIEW)
def totp_disable() -> Any:
    form = staff_forms.CodeForm()
    if form.validate_on_submit():
        try:
            staff_service.disable_totp(db.session, settings(), current_user._get_current_object(), form.code.data,
                                       client_ip())
        except staff_service.StaffError as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("二要素認証を解除しました。"), "info")
    else:
        flash(_("確認コードを入力してください。"), "error")
    return redirect(url_for(".account"))


# --- dashboard --------------------------------------------------------------------------------

@bp.get("/")
@requires(Permission.VIEW)
def dashboard() -> Any:
    shown = _recent_figures().get(db.session, utcnow())
    return render("admin/dashboard.html", [], counts=shown.by_status, by_region=shown.by_region,
                  locked=shown.locked, counted_at=shown.counted_at)


def _recent_figures() -> figures.RecentFigures:
    """This web process's dashboard figures, made on the first view."""
    recent = current_app.extensions.get("tsunagu.dashboard_figures")
    if recent is None:
        max_age = timedelta(seconds=settings().dashboard_figures_seconds)
        recent = current_app.extensions["tsunagu.dashboard_figures"] = figures.RecentFigures(max_age)
    return recent


# --- registrants (read-only in this shell) ---------------------------------------------------------

@bp.get("/registrants")
@requires(Permission.VIEW)
def registrant_list() -> Any:
    form = forms.RegistrantFilterForm(request.args)
    query, page = "", 1
    if form.validate():
        query, page = form.q.data or "", form.page.data or 1
    result = registrants.list_registrants(db.session, query, page)
    audit.record(db.session, current_user, "registrant.list", "registrant:*",
                 {"query_given": bool(query), "page": page, "shown": len(result.items)}, client_ip())
    db.session.commit()
    return render("admin/registrants.html", [(_l("登録者一覧"), None)], form=form, result=result, query=query)


@bp.get("/registrants/<int:registrant_id>")
@requires(Permission.VIEW)
def registrant_detail(registrant_id: int) -> Any:
    registrant = db.get_or_404(Registrant, registrant_id)
    audit.record(db.session, current_user, "registrant.view", f"registrant:{registrant.id}", {}, client_ip())
    db.session.commit()
    consents, changes = registrants.history_of(db.session, registrant.id)
    return render("admin/registrant_detail.html",
                  [(_l("登録者一覧"), url_for(".registrant_list")), (registrant.full_name, None)],
                  registrant=registrant, consents=consents, changes=changes, confirm=forms.ConfirmForm(),
                  correspondence=correspondence.for_registrant(db.session, registrant.id))


# --- locked accounts ---------------------------------------------------------------------------------

@bp.get("/security/locks")
@requires(Permission.VIEW)
def locks() -> Any:
    return render("admin/locks.html", [(_l("ロック中のアカウント"), None)],
                  staff=auth.locked_accounts(db.session, "staff"),
                  registrants=auth.locked_accounts(db.session, "registrant"), confirm=forms.ConfirmForm())


@bp.post("/security/locks/registrant/<int:registrant_id>/unlock")
@requires(Permission.EDIT)
def unlock_registrant(registrant_id: int) -> Any:
    return _unlock(db.get_or_404(Registrant, registrant_id))


@bp.post("/security/locks/staff/<int:staff_id>/unlock")
@requires(Permission.ADMIN)
def unlock_staff(staff_id: int) -> Any:
    return _unlock(db.get_or_404(StaffUser, staff_id))


def _unlock(account: Any) -> Any:
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    auth.unlock(db.session, current_user, account, client_ip())
    flash(_("アカウントのロックを解除しました。"), "info")
    return redirect(safe_next(request.form.get("next"), url_for(".locks")))


# --- audit history --------------------------------------------------------------------------------------

@bp.get("/audit")
@requires(Permission.ADMIN)
def audit_log() -> Any:
    form = forms.AuditFilterForm(request.args)
    filters: dict[str, Any] = {}
    if form.validate():
        filters = {"action_prefix": form.action.data or "", "actor_kind": form.actor_kind.data or "",
                   "date_from": form.date_from.data, "date_to": form.date_to.data, "page": form.page.data or 1}
    result = audit.search_events(db.session, per_page=settings().audit_page_size, **filters)
    return render("admin/audit.html", [(_l("監査履歴"), None)], form=form, result=result)
