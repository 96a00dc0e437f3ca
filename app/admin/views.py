"""Admin shell: login, dashboard, registrants (read), locked accounts, staff users, audit history."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import forms, render, staff_blueprint
from app.auth import services as auth
from app.auth.forms import LoginForm, PasswordChangeForm
from app.auth.web import (
    change_password_from_form,
    client_ip,
    is_staff,
    log_out,
    login_from_form,
    public,
    requires,
    settings,
)
from app.core.redirects import safe_next
from app.correspondence import services as correspondence
from app.extensions import db, limiter
from app.registrants import services as registrants
from app.registrants.models import Registrant
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
    return render("admin/password.html", [(_l("パスワード変更"), None)], form=form)


# --- dashboard --------------------------------------------------------------------------------

@bp.get("/")
@requires(Permission.VIEW)
def dashboard() -> Any:
    counts = registrants.status_counts(db.session)
    by_region = registrants.counts_by_region(db.session)
    locked = len(auth.locked_accounts(db.session, "registrant")) + len(auth.locked_accounts(db.session, "staff"))
    return render("admin/dashboard.html", [], counts=counts, by_region=by_region, locked=locked)


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


# --- staff users ------------------------------------------------------------------------------------

@bp.get("/staff")
@requires(Permission.ADMIN)
def staff_list() -> Any:
    form = forms.StaffSearchForm(request.args)
    form.validate()
    users = staff_service.search_staff(db.session, form.q.data or "", form.role.data or "")
    return render("admin/staff_list.html", [(_l("管理者ユーザー"), None)], form=form, users=users,
                  confirm=forms.ConfirmForm())


@bp.route("/staff/new", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def staff_new() -> Any:
    form = forms.StaffCreateForm()
    if form.validate_on_submit():
        try:
            staff_service.create_staff(db.session, settings(), current_user, email=form.email.data,
                                       display_name=form.display_name.data, role=form.role.data,
                                       password=form.password.data, ip=client_ip())
        except staff_service.StaffError as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("管理者ユーザーを登録しました。"), "info")
            return redirect(url_for(".staff_list"))
    return render("admin/staff_new.html",
                  [(_l("管理者ユーザー"), url_for(".staff_list")), (_l("新規登録"), None)], form=form)


@bp.post("/staff/<int:staff_id>/disable")
@requires(Permission.ADMIN)
def staff_disable(staff_id: int) -> Any:
    return _set_staff_enabled(staff_id, False)


@bp.post("/staff/<int:staff_id>/enable")
@requires(Permission.ADMIN)
def staff_enable(staff_id: int) -> Any:
    return _set_staff_enabled(staff_id, True)


def _set_staff_enabled(staff_id: int, enabled: bool) -> Any:
    user = db.get_or_404(StaffUser, staff_id)
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        staff_service.set_enabled(db.session, current_user, user, enabled, client_ip())
    except staff_service.StaffError as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    else:
        flash(_("有効にしました。") if enabled else _("無効にしました。"), "info")
    return redirect(url_for(".staff_list"))


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
