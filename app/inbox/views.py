"""Staff screens for bulk messages: list with read rates, compose → confirm → send, detail with the read state."""

from __future__ import annotations

import logging
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.extensions import db
from app.inbox import forms, services
from app.inbox.models import Message
from app.searches.services import saved_searches, visible_saved_search
from app.staff.models import Permission

log = logging.getLogger("tsunagu.inbox")
bp = staff_blueprint("messages_admin", __name__, "/admin/messages")
LIST_CRUMB = _l("メッセージ")


@bp.app_template_global("message_audience_label")
def message_audience_label(audience: str) -> str:
    return str(services.AUDIENCE_LABELS.get(audience, audience))


@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.MessageListForm(request.args)
    direct, page = False, 1
    if form.validate():
        direct, page = bool(form.direct.data), form.page.data or 1
    result = services.admin_page(db.session, page, include_direct=direct)
    return render("inbox/admin_list.html", [(LIST_CRUMB, None)], form=form, result=result,
                  args={"direct": "y"} if direct else {})


def _compose_form() -> forms.MessageForm:
    form = forms.MessageForm()
    own, shared = saved_searches(db.session, current_user)
    form.saved_search.choices = [(0, _("(選んでください)")), *[(s.id, s.name) for s in own],
                                 *[(s.id, _("%(name)s(共有)", name=s.name)) for s in shared]]
    return form


def _target(form: forms.MessageForm) -> services.Target:
    if form.audience.data == services.SAVED_SEARCH:
        return services.Target(services.SAVED_SEARCH, form.saved_search.data)
    return services.Target(services.ALL_ACTIVE)


def _compose_page(form: forms.MessageForm, status: int = 200) -> Any:
    return render("inbox/admin_compose.html", [(LIST_CRUMB, url_for(".index")), (_l("メッセージの作成"), None)],
                  form=form), status


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    """The compose page; a valid POST shows the confirm step (how many get it, how many by e-mail)."""
    form = _compose_form()
    if request.method == "GET" or "back" in request.form:
        return _compose_page(form)
    if not form.validate_on_submit():
        return _compose_page(form, 400)
    target = _target(form)
    try:
        reach = services.reach(db.session, current_user, target)
    except services.MessageError as exc:
        flash(str(exc), "error")
        return _compose_page(form, 400)
    saved = visible_saved_search(db.session, current_user, target.saved_search_id) if target.saved_search_id else None
    return render("inbox/admin_confirm.html", [(LIST_CRUMB, url_for(".index")), (_l("送信内容の確認"), None)],
                  form=form, reach=reach, saved=saved)


@bp.post("/send")
@requires(Permission.EDIT)
def send() -> Any:
    form = _compose_form()
    if not form.validate_on_submit():
        return _compose_page(form, 400)
    try:
        message = services.send_bulk(db.session, settings(), current_user, _target(form), form.subject.data,
                                     form.body.data, email=bool(form.send_email.data), ip=client_ip())
    except services.MessageError as exc:
        db.session.rollback()
        log.info("message send refused (staff=%s): %s", current_user.id, exc)
        flash(str(exc), "error")
        return _compose_page(form, 400)
    db.session.commit()
    state = services.read_state(db.session, message.id)
    flash(_("メッセージを %(n)s 人の受信箱に届けました(うちメールでも %(m)s 人に送信)。",
            n=f"{state.recipients:,}", m=f"{state.emailed:,}"), "info")
    return redirect(url_for(".detail", inbox_message_id=message.id))


@bp.get("/<int:inbox_message_id>")
@requires(Permission.VIEW)
def detail(inbox_message_id: int) -> Any:
    message = db.get_or_404(Message, inbox_message_id)
    state = services.read_state(db.session, message.id)
    return render("inbox/admin_detail.html", [(LIST_CRUMB, url_for(".index")), (message.subject, None)],
                  message=message, state=state)
