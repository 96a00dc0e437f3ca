"""The registrant's contact form: write, confirm, send; and the list of their own inquiries.

Sending is limited per account (RATE_LIMIT, counted in the Flask-Limiter storage). A refused send keeps the
text on the page with a message instead of an error page, so nothing typed is lost.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from limits import parse

from app.auth.web import client_ip, registrant_required, settings
from app.extensions import db, limiter
from app.inquiries import forms, services

log = logging.getLogger("tsunagu.inquiries")
bp = Blueprint("portal_inquiries", __name__, url_prefix="/inquiries")
SEND_LIMIT = parse(services.RATE_LIMIT)


def _me() -> Any:
    return current_user._get_current_object()


def _limit_key() -> tuple[str, str]:
    return "inquiry-send", f"registrant:{current_user.id}"


def _may_send() -> bool:
    """Counts this send (an atomic hit in the limiter's storage); False once the account is over the limit."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    return bool(limiter.limiter.hit(SEND_LIMIT, *_limit_key()))


@bp.get("/")
@registrant_required
def index() -> Any:
    return render_template("inquiries/portal_list.html", items=services.my_inquiries(db.session, _me()),
                           status_labels=services.STATUS_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@registrant_required
def new() -> Any:
    form = forms.InquiryForm()
    if not form.validate_on_submit() or form.edit.data:
        return render_template("inquiries/portal_form.html", form=form)
    if not form.send.data:
        return render_template("inquiries/portal_confirm.html", form=form)
    if not _may_send():
        log.warning("inquiry refused: rate limit (registrant=%s)", current_user.id)
        flash(_("短時間に送信できる問い合わせの数(1時間に5件)を超えました。"
                "入力した内容はそのまま残っていますので、しばらく待ってから送信してください。"), "error")
        return render_template("inquiries/portal_form.html", form=form), 429
    services.submit(db.session, settings(), _me(), form.subject.data, form.body.data.replace("\r\n", "\n"),
                    client_ip())
    db.session.commit()
    return redirect(url_for(".sent"))


@bp.get("/sent")
@registrant_required
def sent() -> Any:
    return render_template("inquiries/portal_sent.html")
