"""The registrant's in-app inbox: messages newest first, marked read on the first opening."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from app.auth.web import is_registrant, registrant_required
from app.extensions import db
from app.inbox import forms, services

bp = Blueprint("portal_inbox", __name__, url_prefix="/inbox")


@bp.app_context_processor
def _inbox_unread() -> dict[str, Any]:
    """`inbox_unread` for the portal menu: one cheap COUNT, only for a logged-in registrant."""
    if not is_registrant():
        return {"inbox_unread": 0}
    return {"inbox_unread": services.unread_count(db.session, current_user.id)}


@bp.get("")
@registrant_required
def index() -> Any:
    form = forms.InboxPageForm(request.args)
    page = (form.page.data or 1) if form.validate() else 1
    result = services.inbox_page(db.session, current_user.id, page)
    return render_template("inbox/portal_list.html", result=result)


@bp.get("/<int:message_id>")
@registrant_required
def show(message_id: int) -> Any:
    opened = services.open_message(db.session, current_user.id, message_id)
    if opened is None:
        abort(404)
    db.session.commit()
    message, read_at = opened
    return render_template("inbox/portal_show.html", message=message, read_at=read_at)
