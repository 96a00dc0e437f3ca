"""Registrants answer surveys and the satisfaction rating."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.web import client_ip, is_registrant, registrant_required
from app.core.redirects import safe_next
from app.extensions import db
from app.surveys import forms, services
from app.surveys.models import Survey

log = logging.getLogger("tsunagu.surveys")
bp = Blueprint("portal_surveys", __name__, url_prefix="/surveys")


def _me() -> Any:
    return current_user._get_current_object()


@bp.app_context_processor
def _footer_state() -> dict[str, Any]:
    """The footer rating asks the database only when the footer is actually drawn for a registrant."""

    def state() -> services.SatisfactionState:
        if not is_registrant():
            return services.SatisfactionState(eligible=False)
        return services.satisfaction_state(db.session, _me())

    return {"satisfaction_state": state}


@bp.get("/")
@registrant_required
def index() -> Any:
    return render_template("surveys/portal_list.html", items=services.surveys_for(db.session, _me()),
                           state_of=services.state_of)


@bp.route("/<int:survey_id>", methods=["GET", "POST"])
@registrant_required
def answer(survey_id: int) -> Any:
    me = _me()
    survey = db.session.get(Survey, survey_id)
    if survey is None or not services.visible_to(db.session, survey, me):
        abort(404)
    response = services.response_of(db.session, survey.id, me.id)
    refusal = services.answer_refusal(db.session, survey, me)
    form = forms.answer_form(survey, None if request.method == "POST" else
                             services.current_values(db.session, response))
    if request.method == "POST":
        if refusal:
            log.info("survey %s: answer refused for registrant %s (%s)", survey.id, me.id,
                     services.state_of(survey).value)
            flash(refusal, "error")
            return redirect(url_for(".answer", survey_id=survey.id))
        if form.validate_on_submit():
            try:
                edited = services.save_response(db.session, survey, me, forms.answer_values(survey, form),
                                                client_ip())
            except services.SurveyError as exc:
                db.session.rollback()
                log.info("survey %s: answer from registrant %s refused: %s", survey.id, me.id, exc)
                flash(str(exc), "error")
                return redirect(url_for(".answer", survey_id=survey.id))
            db.session.commit()
            flash(_("回答を修正しました。ご協力ありがとうございます。") if edited
                  else _("回答を受け付けました。ご協力ありがとうございます。"), "info")
            return redirect(url_for(".answer", survey_id=survey.id))
    return render_template("surveys/portal_answer.html", survey=survey, form=form, response=response,
                           refusal=refusal, state=services.state_of(survey),
                           answers=services.current_values(db.session, response) if response else {})


@bp.post("/rate")
@registrant_required
def rate() -> Any:
    form = forms.RateForm()
    back = safe_next(request.form.get("next"), url_for("portal.index"))
    if not form.validate_on_submit():
        log.info("satisfaction rating refused for registrant %s: %s", current_user.id, sorted(form.errors))
        flash(_("1〜5の中から評価を選んでください。"), "error")
        return redirect(back)
    me = _me()
    if not services.satisfaction_state(db.session, me).eligible:
        flash(_("現在の登録の状態では評価を送れません。"), "error")
        return redirect(back)
    try:
        services.rate(db.session, me, form.rating.data, client_ip())
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(_("評価を受け付けました"), "info")
    return redirect(back)
