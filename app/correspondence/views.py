"""Correspondence history screens (S-A4 search, S-A5 entry): list/search, add, edit, detail with versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires
from app.core.timeutil import from_tokyo_input, to_tokyo
from app.correspondence import forms, services
from app.correspondence.models import Correspondence
from app.extensions import db
from app.registrants.models import Registrant
from app.staff.models import Permission

bp = staff_blueprint("correspondence", __name__, "/admin/correspondence")
LIST_CRUMB = _l("対応履歴")



def _choices(selected: int | None = None) -> list[tuple[int, str]]:
    return [(c.id, c.label) for c in services.channels(db.session, include_inactive_id=selected)]


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.CorrespondenceSearchForm(request.args)
    form.channel.choices = [(0, _("すべて")), *_choices()]
    form.staff.choices = [(0, _("すべて")), *services.staff_choices(db.session)]
    criteria, page = services.Criteria(), 1
    if form.validate():
        criteria = services.Criteria(text=form.q.data or "", channel_id=form.channel.data or None,
                                     staff_id=form.staff.data or None, occurred_from=form.date_from.data,
                                     occurred_to=form.date_to.data, follow_up_by=form.follow_up_by.data)
        page = form.page.data or 1
    result = services.search(db.session, criteria, page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render("correspondence/list.html", [(LIST_CRUMB, None)], form=form, result=result, args=args)


@bp.route("/registrants/<int:registrant_id>/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new(registrant_id: int) -> Any:
    registrant = db.get_or_404(Registrant, registrant_id)
    form = forms.CorrespondenceForm()
    form.channel.choices = _choices()
    if request.method == "GET":
        form.occurred_at.data = to_tokyo(datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)).replace(
            tzinfo=None)
    if form.validate_on_submit():
        entry = services.create(db.session, current_user, registrant.id, occurred_at=from_tokyo_input(form.occurred_at.data),
                                channel_id=form.channel.data, subject=form.subject.data, body=form.body.data,
                                outcome=form.outcome.data, follow_up_on=form.follow_up_on.data, ip=client_ip())
        db.session.commit()
        flash(_("対応履歴を登録しました。"), "info")
        return redirect(url_for(".detail", correspondence_id=entry.id))
    return render("correspondence/form.html", [*_registrant_crumbs(registrant), (_l("対応履歴の登録"), None)],
                  form=form, registrant=registrant, entry=None)


@bp.get("/<int:correspondence_id>")
@requires(Permission.VIEW)
def detail(correspondence_id: int) -> Any:
    entry = db.get_or_404(Correspondence, correspondence_id)
    registrant = db.session.get(Registrant, entry.registrant_id)
    return render("correspondence/detail.html",
                  [(LIST_CRUMB, url_for(".index")), (entry.subject, None)], entry=entry, registrant=registrant)


@bp.route("/<int:correspondence_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(correspondence_id: int) -> Any:
    entry = db.get_or_404(Correspondence, correspondence_id)
    registrant = db.session.get(Registrant, entry.registrant_id)
    form = forms.CorrespondenceForm()
    form.channel.choices = _choices(entry.channel_id)
    if request.method == "GET":
        form.occurred_at.data = to_tokyo(entry.occurred_at).replace(tzinfo=None)  # type: ignore[union-attr]
        form.channel.data = entry.channel_id
        form.subject.data, form.body.data = entry.subject, entry.body
        form.outcome.data, form.follow_up_on.data = entry.outcome or "", entry.follow_up_on
    if form.validate_on_submit():
        changed = services.edit(db.session, current_user, entry, occurred_at=from_tokyo_input(form.occurred_at.data),
                                channel_id=form.channel.data, subject=form.subject.data, body=form.body.data,
                                outcome=form.outcome.data, follow_up_on=form.follow_up_on.data, ip=client_ip())
        db.session.commit()
        flash(_("対応履歴を更新しました。以前の内容は変更履歴に残っています。") if changed else _("変更はありません。"), "info")
        return redirect(url_for(".detail", correspondence_id=entry.id))
    return render("correspondence/form.html",
                  [(LIST_CRUMB, url_for(".index")), (entry.subject, url_for(".detail", correspondence_id=entry.id)),
                   (_l("編集"), None)], form=form, registrant=registrant, entry=entry)


def _registrant_crumbs(registrant: Registrant) -> list[tuple[Any, str | None]]:
    return [(_l("登録者一覧"), url_for("admin.registrant_list")),
            (registrant.full_name, url_for("admin.registrant_detail", registrant_id=registrant.id))]
