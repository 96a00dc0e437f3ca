"""The registrant's one-click renewal (S5): GET shows the renewal box, POST renews. Own records only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.web import client_ip, is_registrant, registrant_required, settings
from app.core.forms import BaseForm
from app.extensions import db
from app.lifecycle import services

bp = Blueprint("lifecycle", __name__)


class RenewForm(BaseForm):
    """Carries only the CSRF token: the renewal has no choices to make."""


def offer_for(registrant: Any) -> services.RenewalOffer | None:
    """For templates (the box on /me): the logged-in registrant's renewal offer today."""
    if registrant is None or not is_registrant() or registrant.id != current_user.id:
        return None
    return services.renewal_offer(settings(), registrant, services.today_in_tokyo())


@bp.app_context_processor
def _template_names() -> dict[str, Any]:
    return {"renewal_offer_for": offer_for, "long_date": lambda day: format_date(day, "long") if day else ""}


@bp.get(services.RENEW_PATH)
@registrant_required
def renew_page() -> Any:
    return render_template("lifecycle/renew.html", registrant=current_user, renewal_page=True)


@bp.post(services.RENEW_PATH)
@registrant_required
def renew() -> Any:
    if not RenewForm().validate_on_submit():
        abort(400)
    registrant = current_user._get_current_object()  # the row the user loader put in db.session
    try:
        valid_until = services.renew(db.session, settings(), registrant, services.today_in_tokyo(), current_user,
                                     client_ip())
    except services.RenewalRefused:
        db.session.rollback()
        flash(_("現在、登録の更新は受け付けていません。"), "error")
    else:
        flash(_("登録を更新しました。有効期限は%(date)sです。", date=format_date(valid_until, "long")), "info")
    return redirect(url_for(".renew_page"))
