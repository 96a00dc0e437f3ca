"""Events for registrants: list, RSVP, cancellation.

An event page's id names something every registrant may see (a published event), not anyone's record;
the registrant's own RSVP is always looked up from the login, never from the URL.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.auth.web import client_ip, registrant_required, settings
from app.events import forms, services
from app.events.models import RsvpStatus
from app.extensions import db

log = logging.getLogger("tsunagu.events")
bp = Blueprint("portal_events", __name__, url_prefix="/events")


def _me() -> Any:
    return current_user._get_current_object()


@bp.get("/")
@registrant_required
def index() -> Any:
    return render_template("events/portal_list.html", items=services.portal_events(db.session, _me()))


@bp.route("/<int:event_id>", methods=["GET", "POST"])
@registrant_required
def detail(event_id: int) -> Any:
    event = services.portal_event(db.session, event_id)
    if event is None:
        abort(404)
    form = forms.RsvpForm()
    if form.validate_on_submit():
        return _act(event.id, cancel=bool(form.cancel.data))
    mine = services.my_rsvp(db.session, event, _me())
    tally = services.counts(db.session, [event.id])[event.id]
    position = services.waitlist_position(db.session, mine) if mine and mine.status == RsvpStatus.WAITLIST else None
    return render_template("events/portal_detail.html", event=event, mine=mine, form=form, position=position,
                           seats_left=tally.seats_left(event.capacity), waitlist=tally.waitlist,
                           state=services.state_of(event), problem=services.rsvp_problem(event),
                           deadline=services.rsvp_deadline(event), when=services.when_text(event),
                           statuses=RsvpStatus)


def _act(event_id: int, *, cancel: bool) -> Any:
    try:
        if cancel:
            services.cancel_rsvp(db.session, settings(), event_id, _me(), client_ip())
            message = _("申込を取り消しました。")
        else:
            status = services.rsvp(db.session, event_id, _me(), client_ip())
            message = (_("参加の申込を受け付けました。") if status == RsvpStatus.GOING
                       else _("定員に達したため、キャンセル待ちに登録しました。参加できるようになったらメールでお知らせします。"))
        db.session.commit()
    except services.EventError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".detail", event_id=event_id))
    except IntegrityError:  # a double submit that slipped past the lock: the first one counts
        db.session.rollback()
        log.info("duplicate RSVP refused for event %s (registrant=%s)", event_id, current_user.id)
        flash(_("このイベントにはすでに申し込んでいます。"), "error")
        return redirect(url_for(".detail", event_id=event_id))
    flash(message, "info")
    return redirect(url_for(".detail", event_id=event_id))
