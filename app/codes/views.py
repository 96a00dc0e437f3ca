"""Code-master maintenance (S-A11): list per kind, add, rename, reorder, retire. Administrators only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires
from app.codes import forms, services
from app.codes.models import Code, CodeKind
from app.extensions import db
from app.staff.models import Permission

bp = staff_blueprint("codes_admin", __name__, "/admin/codes")
LIST_CRUMB = _l("コードマスタ")


@bp.app_template_filter("code_label_on")
def code_label_on(code: Code | None, when: date | datetime | None) -> str:
    """The label a code carried on the day of a dated record (a rename keeps the old name for older records)."""
    if code is None:
        return ""
    cache = g.setdefault("code_label_history", {})
    if code.id not in cache:
        cache.update(services.label_history(db.session, [code.id]))
    return services.label_from(code, cache[code.id], when, english=str(get_locale() or "ja") == "en")


@bp.app_context_processor
def _code_names() -> dict[str, Any]:
    return {"code_kind_label": lambda kind: services.KIND_LABELS.get(kind, kind)}


def _kind_choices() -> list[tuple[str, str]]:
    return [(kind, str(label)) for kind, label in services.KIND_LABELS.items()]


def _list_url(kind: str) -> str:
    return url_for(".index", kind=kind)


@bp.get("")
@requires(Permission.ADMIN)
def index() -> Any:
    form = forms.CodeKindForm(request.args)
    form.kind.choices = _kind_choices()
    kind = form.kind.data if form.validate() and form.kind.data else CodeKind.REGION.value
    codes = services.codes_of_kind(db.session, kind)
    today = services.tokyo_today()
    return render("codes/index.html", [(LIST_CRUMB, None)], form=form, kind=kind, codes=codes,
                  status={code.id: services.status_of(code, today) for code in codes},
                  status_labels=services.STATUS_LABELS, kinds=services.KIND_LABELS,
                  history=services.label_history(db.session, [code.id for code in codes]),
                  move_form=forms.MoveForm(), retire_form=forms.RetireForm())


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def new() -> Any:
    form = forms.CodeCreateForm()
    form.kind.choices = _kind_choices()
    if request.method == "GET" and request.args.get("kind") in services.KIND_LABELS:
        form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        try:
            services.add_code(db.session, current_user, kind=form.kind.data, code=form.code.data,
                              label=form.label.data, label_en=form.label_en.data, valid_from=form.valid_from.data,
                              valid_to=form.valid_to.data, ip=client_ip())
        except services.CodeError as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("コードを追加しました。"), "info")
            return redirect(_list_url(form.kind.data))
    return render("codes/form.html", [(LIST_CRUMB, url_for(".index")), (_l("コードの追加"), None)],
                  form=form, code=None, history=[])


@bp.route("/<int:code_id>/edit", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def edit(code_id: int) -> Any:
    code = db.get_or_404(Code, code_id)
    form = forms.CodeEditForm(obj=code if request.method == "GET" else None)
    if request.method == "GET":
        form.renamed_on.data = services.tokyo_today()
    if form.validate_on_submit():
        try:
            changed = services.update_code(db.session, current_user, code, label=form.label.data,
                                           label_en=form.label_en.data, renamed_on=form.renamed_on.data,
                                           valid_from=form.valid_from.data, valid_to=form.valid_to.data,
                                           ip=client_ip())
        except services.CodeError as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("コードを更新しました。") if changed else _("変更はありません。"), "info")
            return redirect(_list_url(code.kind))
    return render("codes/form.html",
                  [(LIST_CRUMB, url_for(".index")), (services.KIND_LABELS.get(code.kind, code.kind),
                                                     _list_url(code.kind)), (code.label, None)],
                  form=form, code=code, history=services.label_history(db.session, [code.id])[code.id])


@bp.post("/<int:code_id>/move")
@requires(Permission.ADMIN)
def move(code_id: int) -> Any:
    code = db.get_or_404(Code, code_id)
    form = forms.MoveForm()
    if not form.validate_on_submit():
        abort(400)
    if not services.move(db.session, current_user, code, form.direction.data, client_ip()):
        flash(_("これ以上移動できません。"), "info")
    return redirect(_list_url(code.kind) + f"#code-{code.id}")


@bp.post("/<int:code_id>/retire")
@requires(Permission.ADMIN)
def retire(code_id: int) -> Any:
    code = db.get_or_404(Code, code_id)
    form = forms.RetireForm()
    if not form.validate_on_submit():
        abort(400)
    services.retire(db.session, current_user, code, form.last_day.data, client_ip())
    flash(_("「%(label)s」を終了しました。新しい選択肢には表示されませんが、登録済みの記録には表示されます。",
            label=code.label), "info")
    return redirect(_list_url(code.kind))
