"""Staff users (S-A10/A15): list and search, create, edit name and role, disable, force a password change,
reset two-factor login. Administrators only; every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.auth.web import client_ip, requires, settings
from app.extensions import db
from app.staff import forms
from app.staff import services as staff_service
from app.staff.models import Permission, StaffUser

bp = staff_blueprint("staff_admin", __name__, "/admin/staff")
LIST_CRUMB = _l("管理者ユーザー")


@bp.get("")
@requires(Permission.ADMIN)
def index() -> Any:
    form = forms.StaffSearchForm(request.args)
    query = role = state = ""
    if form.validate():
        query, role, state = form.q.data or "", form.role.data or "", form.state.data or ""
    users = staff_service.search_staff(db.session, query, role, state)
    return render("admin/staff_list.html", [(LIST_CRUMB, None)], form=form, users=users, confirm=ConfirmForm(),
                  totp_required_roles=settings().totp_required_role_set)


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def new() -> Any:
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
            return redirect(url_for(".index"))
    return render("admin/staff_new.html", [(LIST_CRUMB, url_for(".index")), (_l("新規登録"), None)], form=form)


@bp.route("/<int:staff_id>/edit", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def edit(staff_id: int) -> Any:
    user = db.get_or_404(StaffUser, staff_id)
    form = forms.StaffEditForm(obj=user if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            changed = staff_service.update_staff(db.session, current_user, user, display_name=form.display_name.data,
                                                 role=form.role.data, ip=client_ip())
        except staff_service.StaffError as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("管理者ユーザーを更新しました。") if changed else _("変更はありません。"), "info")
            return redirect(url_for(".index"))
    return render("admin/staff_edit.html", [(LIST_CRUMB, url_for(".index")), (user.display_name, None)],
                  form=form, user=user, confirm=ConfirmForm(), is_self=user.id == current_user.id,
                  totp_required=staff_service.totp_required(settings(), user))


@bp.post("/<int:staff_id>/disable")
@requires(Permission.ADMIN)
def disable(staff_id: int) -> Any:
    return _change(staff_id, lambda user: staff_service.set_enabled(db.session, current_user, user, False,
                                                                    client_ip()), _("無効にしました。"))


@bp.post("/<int:staff_id>/enable")
@requires(Permission.ADMIN)
def enable(staff_id: int) -> Any:
    return _change(staff_id, lambda user: staff_service.set_enabled(db.session, current_user, user, True,
                                                                    client_ip()), _("有効にしました。"))


@bp.post("/<int:staff_id>/force-password-change")
@requires(Permission.ADMIN)
def force_password_change(staff_id: int) -> Any:
    return _change(staff_id, lambda user: staff_service.force_password_change(db.session, current_user, user,
                                                                              client_ip()),
                   _("次回ログイン時にパスワードの変更を求めます。このユーザーはすべての端末でログアウトしました。"))


@bp.post("/<int:staff_id>/totp-reset")
@requires(Permission.ADMIN)
def totp_reset(staff_id: int) -> Any:
    return _change(staff_id, lambda user: staff_service.reset_totp(db.session, current_user, user, client_ip()),
                   _("二要素認証の設定を解除しました。"))


def _change(staff_id: int, action: Callable[[StaffUser], Any], done: str) -> Any:
    user = db.get_or_404(StaffUser, staff_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action(user)
    except staff_service.StaffError as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    else:
        flash(done, "info")
    return redirect(url_for(".index"))
