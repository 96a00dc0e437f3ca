"""Staff screens for events: editing, RSVPs, attendee export and attendance."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.auth.web import client_ip, requires, settings
from app.core.timeutil import from_tokyo_input, to_tokyo_input, utcnow
from app.events import forms, services
from app.events.models import Event, RsvpStatus
from app.extensions import db
from app.staff.models import Permission

log = logging.getLogger("tsunagu.events")
bp = staff_blueprint("events_admin", __name__, "/admin/events")
LIST_CRUMB = _l("イベント")
ATTENDANCE_VALUES = {"yes": True, "no": False, "": None}




@bp.app_context_processor
def _event_names() -> dict[str, Any]:
    return {"event_state_label": lambda state: services.STATE_LABELS.get(state, state),
            "rsvp_label": lambda status: services.RSVP_LABELS.get(status, status),
            "event_when": services.when_text}


@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    now = utcnow()
    upcoming, past = services.admin_events(db.session, past=False, now=now), services.admin_events(
        db.session, past=True, now=now)
    tally = services.counts(db.session, [event.id for event in upcoming + past])
    return render("events/admin_list.html", [(LIST_CRUMB, None)], upcoming=upcoming, past=past, counts=tally,
                  state={event.id: services.state_of(event, now) for event in upcoming + past})


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    return _event_form(None, [(LIST_CRUMB, url_for(".index")), (_l("イベントの作成"), None)])


@bp.route("/<int:event_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    return _event_form(event, [(LIST_CRUMB, url_for(".index")),
                               (event.title, url_for(".detail", event_id=event.id)), (_l("編集"), None)])


def _event_form(event: Event | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.EventForm()
    if request.method == "GET" and event is not None:
        form.title.data, form.description.data = event.title, event.description
        form.starts_at.data, form.ends_at.data = to_tokyo_input(event.starts_at), to_tokyo_input(event.ends_at)
        form.place.data, form.online_url.data = event.place or "", event.online_url or ""
        form.capacity.data = "" if event.capacity is None else str(event.capacity)
        form.rsvp_closes_at.data = to_tokyo_input(event.rsvp_closes_at)
    if form.validate_on_submit():
        values = {"title": form.title.data, "description": form.description.data.replace("\r\n", "\n"),
                  "starts_at": from_tokyo_input(form.starts_at.data), "ends_at": from_tokyo_input(form.ends_at.data),
                  "place": form.place.data or None, "online_url": form.online_url.data or None,
                  "capacity": form.capacity_value, "rsvp_closes_at": from_tokyo_input(form.rsvp_closes_at.data)}
        saved = services.save_event(db.session, settings(), current_user, event, values, client_ip())
        db.session.commit()
        flash(_("イベントを保存しました。") if saved.published_at else
              _("イベントを保存しました(下書き)。登録者に見せるには「公開する」を押してください。"), "info")
        return redirect(url_for(".detail", event_id=saved.id))
    if form.errors:
        log.info("event form refused: %s (staff=%s)", sorted(form.errors), current_user.id)
    return render("events/admin_form.html", crumbs, form=form, event=event)


@bp.get("/<int:event_id>")
@requires(Permission.VIEW)
def detail(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    grouped = services.attendees(db.session, event)
    audit.record(db.session, current_user, "event.attendees_view", f"event:{event.id}",
                 {"shown": sum(len(rows) for rows in grouped.values())}, client_ip())
    db.session.commit()
    return render("events/admin_detail.html", [(LIST_CRUMB, url_for(".index")), (event.title, None)], event=event,
                  grouped=grouped, counts=services.counts(db.session, [event.id])[event.id],
                  state=services.state_of(event), attendance_open=services.attendance_open(event),
                  confirm=ConfirmForm(), statuses=RsvpStatus)


@bp.post("/<int:event_id>/publish")
@requires(Permission.EDIT)
def publish(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.publish(db.session, current_user, event, client_ip())
    except services.EventError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".detail", event_id=event.id))
    db.session.commit()
    flash(_("イベントを公開しました。登録者のイベント一覧に表示されます。"), "info")
    return redirect(url_for(".detail", event_id=event.id))


@bp.post("/<int:event_id>/cancel")
@requires(Permission.EDIT)
def cancel(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        mails = services.cancel_event(db.session, settings(), current_user, event, client_ip())
    except services.EventError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".detail", event_id=event_id))
    db.session.commit()
    flash(_("イベントを中止しました。申込者 %(n)d 名に中止のお知らせメールを送ります。", n=mails), "info")
    return redirect(url_for(".detail", event_id=event_id))


@bp.post("/<int:event_id>/attendance")
@requires(Permission.EDIT)
def attendance(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    marks: dict[int, bool | None] = {}
    for name, value in request.form.items():
        if not name.startswith("attended-"):
            continue
        raw_id = name.removeprefix("attended-")
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10) or value not in ATTENDANCE_VALUES:
            log.warning("attendance form with a malformed field for event %s (staff=%s)", event.id, current_user.id)
            flash(_("出欠の送信内容が正しくありません。画面を再読み込みしてください。"), "error")
            return redirect(url_for(".detail", event_id=event.id))
        marks[int(raw_id)] = ATTENDANCE_VALUES[value]
    try:
        changed = services.record_attendance(db.session, current_user, event, marks, client_ip())
    except services.EventError as exc:
        db.session.rollback()
        log.warning("attendance refused for event %s: %s (staff=%s)", event_id, exc, current_user.id)
        flash(str(exc), "error")
        return redirect(url_for(".detail", event_id=event_id))
    db.session.commit()
    flash(_("出欠を保存しました(%(n)d 件を更新)。", n=changed), "info")
    return redirect(url_for(".detail", event_id=event_id) + "#attendance")


@bp.post("/<int:event_id>/export")
@requires(Permission.EDIT)
def export(event_id: int) -> Any:
    event = db.get_or_404(Event, event_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = services.export_attendees(db.session, current_user, event, client_ip())
    db.session.commit()
    return send_file(result.writer.rewound(), mimetype=services.XLSX_MIMETYPE, as_attachment=True,
                     download_name=result.filename, max_age=0)
