"""Staff screens for surveys: builder, publishing, results and exports."""

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
from app.auth.web import client_ip, requires
from app.core.timeutil import from_tokyo_input, to_tokyo_input
from app.extensions import db
from app.searches.services import saved_searches, visible_saved_search
from app.staff.models import Permission
from app.surveys import exports, forms, services
from app.surveys.models import Audience, Survey, SurveyKind, SurveyQuestion

log = logging.getLogger("tsunagu.surveys")
bp = staff_blueprint("surveys_admin", __name__, "/admin/surveys")
LIST_CRUMB = _l("アンケート")




def _survey(survey_id: int) -> Survey:
    return db.get_or_404(Survey, survey_id)


def _crumbs(survey: Survey, *more: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(LIST_CRUMB, url_for(".index")), (survey.title, url_for(".detail", survey_id=survey.id) if more else None),
            *more]


@bp.app_context_processor
def _survey_names() -> dict[str, Any]:
    return {"survey_state_labels": services.STATE_LABELS, "survey_kind_labels": services.KIND_LABELS,
            "survey_audience_labels": services.AUDIENCE_LABELS}


@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    surveys = services.all_surveys(db.session)
    counts = services.response_counts(db.session, [s.id for s in surveys])
    targets = {s.id: services.target_count(db.session, s) for s in surveys}
    return render("surveys/admin_list.html", [(LIST_CRUMB, None)], surveys=surveys, counts=counts, targets=targets,
                  state_of=services.state_of, can_edit=current_user.can(Permission.EDIT))


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    return _settings_form(None, [(LIST_CRUMB, url_for(".index")), (_l("アンケートの作成"), None)])


@bp.route("/<int:survey_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(survey_id: int) -> Any:
    survey = _survey(survey_id)
    if survey.kind == SurveyKind.SATISFACTION.value:
        flash(str(services.SATISFACTION_FIXED), "error")
        return redirect(url_for(".detail", survey_id=survey.id))
    return _settings_form(survey, _crumbs(survey, (_l("設定の編集"), None)))


def _saved_search_choices(current_id: int | None) -> list[tuple[int, str]]:
    own, shared = saved_searches(db.session, current_user)
    choices = [(0, _("選択してください"))] + [(s.id, s.name) for s in own] + \
        [(s.id, _("%(name)s(共有)", name=s.name)) for s in shared if s.owner_id != current_user.id]
    if current_id and current_id not in {value for value, _label in choices}:
        choices.append((current_id, _("(現在の設定: 他の職員の保存した検索)")))
    return choices


def _settings_form(survey: Survey | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.SurveyForm()
    current_saved = survey.saved_search_id if survey else None
    form.saved_search.choices = _saved_search_choices(current_saved)
    if request.method == "GET" and survey is not None:
        form.title.data, form.description.data = survey.title, survey.description
        form.audience.data, form.saved_search.data = survey.audience, survey.saved_search_id or 0
        form.opens_at.data, form.closes_at.data = to_tokyo_input(survey.opens_at), to_tokyo_input(survey.closes_at)
        form.answers_editable.data, form.is_named.data = survey.answers_editable, survey.is_named
    if form.validate_on_submit():
        saved_id = form.saved_search.data if form.audience.data == Audience.SAVED_SEARCH.value else None
        if saved_id and saved_id != current_saved and visible_saved_search(db.session, current_user, saved_id) is None:
            form.saved_search.errors = [_("この保存した検索は選べません。")]
        else:
            values = {"title": form.title.data, "description": (form.description.data or "").replace("\r\n", "\n")
                      or None, "audience": form.audience.data, "saved_search_id": saved_id or None,
                      "opens_at": from_tokyo_input(form.opens_at.data), "closes_at": from_tokyo_input(form.closes_at.data),
                      "answers_editable": bool(form.answers_editable.data), "is_named": bool(form.is_named.data)}
            try:
                saved = services.save_survey(db.session, current_user, survey, values, client_ip())
            except services.SurveyError as exc:
                db.session.rollback()
                flash(str(exc), "error")
            else:
                db.session.commit()
                flash(_("アンケートを保存しました。"), "info")
                return redirect(url_for(".detail", survey_id=saved.id))
    return render("surveys/admin_form.html", crumbs, form=form, survey=survey)


@bp.get("/<int:survey_id>")
@requires(Permission.VIEW)
def detail(survey_id: int) -> Any:
    survey = _survey(survey_id)
    responses = services.response_count(db.session, survey)
    return render("surveys/admin_detail.html", _crumbs(survey), survey=survey, responses=responses,
                  state=services.state_of(survey), saved_search_name=services.saved_search_name(db.session, survey),
                  can_edit=current_user.can(Permission.EDIT), confirm=ConfirmForm(),
                  fixed=survey.kind == SurveyKind.SATISFACTION.value)


def _act(survey: Survey, action: Any, done: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action()
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done, "info")
    return redirect(url_for(".detail", survey_id=survey.id))


@bp.post("/<int:survey_id>/publish")
@requires(Permission.EDIT)
def publish(survey_id: int) -> Any:
    survey = _survey(survey_id)
    return _act(survey, lambda: services.publish(db.session, current_user, survey, client_ip()),
                _("アンケートを公開しました。"))


@bp.post("/<int:survey_id>/unpublish")
@requires(Permission.EDIT)
def unpublish(survey_id: int) -> Any:
    survey = _survey(survey_id)
    return _act(survey, lambda: services.unpublish(db.session, current_user, survey, client_ip()),
                _("公開をやめました。回答はそのまま残っています。"))


@bp.post("/<int:survey_id>/delete")
@requires(Permission.EDIT)
def delete(survey_id: int) -> Any:
    survey = _survey(survey_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.delete_survey(db.session, current_user, survey, client_ip())
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".detail", survey_id=survey_id))
    db.session.commit()
    flash(_("アンケートを削除しました。"), "info")
    return redirect(url_for(".index"))


# --- questions ----------------------------------------------------------------------------------

def _question(survey: Survey, question_id: int) -> SurveyQuestion:
    question = db.session.get(SurveyQuestion, question_id)
    if question is None or question.survey_id != survey.id:
        abort(404)
    return question


@bp.route("/<int:survey_id>/questions/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def question_new(survey_id: int) -> Any:
    survey = _survey(survey_id)
    try:
        services.require_restructurable(db.session, survey)
    except services.SurveyError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".detail", survey_id=survey.id))
    form = forms.QuestionForm()
    if form.validate_on_submit():
        services.add_question(db.session, current_user, survey, kind=form.kind.data, prompt=form.prompt.data,
                              help_text=form.help_text.data, is_required=bool(form.is_required.data),
                              options=form.option_labels(), ip=client_ip())
        db.session.commit()
        flash(_("設問を追加しました。"), "info")
        return redirect(url_for(".detail", survey_id=survey.id) + "#questions")
    return render("surveys/admin_question.html", _crumbs(survey, (_l("設問の追加"), None)), form=form, survey=survey,
                  question=None, answered=False)


@bp.route("/<int:survey_id>/questions/<int:question_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def question_edit(survey_id: int, question_id: int) -> Any:
    survey = _survey(survey_id)
    question = _question(survey, question_id)
    if survey.kind == SurveyKind.SATISFACTION.value:
        flash(str(services.SATISFACTION_FIXED), "error")
        return redirect(url_for(".detail", survey_id=survey.id))
    form = forms.QuestionForm()
    if request.method == "GET":
        form.kind.data, form.prompt.data, form.help_text.data = question.kind, question.prompt, question.help_text
        form.is_required.data = question.is_required
        form.options.data = "\n".join(option.label for option in question.options)
    if form.validate_on_submit():
        try:
            services.update_question(db.session, current_user, question, kind=form.kind.data,
                                     prompt=form.prompt.data, help_text=form.help_text.data,
                                     is_required=bool(form.is_required.data), options=form.option_labels(),
                                     ip=client_ip())
        except services.SurveyError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            question = _question(survey, question_id)
        else:
            db.session.commit()
            flash(_("設問を保存しました。"), "info")
            return redirect(url_for(".detail", survey_id=survey.id) + "#questions")
    return render("surveys/admin_question.html", _crumbs(survey, (_l("設問の編集"), None)), form=form, survey=survey,
                  question=question, answered=services.has_responses(db.session, survey))


@bp.post("/<int:survey_id>/questions/<int:question_id>/delete")
@requires(Permission.EDIT)
def question_delete(survey_id: int, question_id: int) -> Any:
    survey = _survey(survey_id)
    question = _question(survey, question_id)
    return _act(survey, lambda: services.delete_question(db.session, current_user, question, client_ip()),
                _("設問を削除しました。"))


@bp.post("/<int:survey_id>/questions/<int:question_id>/move")
@requires(Permission.EDIT)
def question_move(survey_id: int, question_id: int) -> Any:
    survey = _survey(survey_id)
    question = _question(survey, question_id)
    form = forms.MoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.move_question(db.session, current_user, question, form.direction.data, client_ip())
    except services.SurveyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
    return redirect(url_for(".detail", survey_id=survey.id) + "#questions")


# --- results and exports ------------------------------------------------------------------------

@bp.get("/<int:survey_id>/results")
@requires(Permission.VIEW)
def results(survey_id: int) -> Any:
    survey = _survey(survey_id)
    result = services.results(db.session, survey)
    people = services.respondents(db.session, survey) if survey.is_named else None
    audit.record(db.session, current_user, "survey.results_view", f"survey:{survey.id}",
                 {"named": survey.is_named, "responses": result.responses}, client_ip())
    db.session.commit()
    return render("surveys/admin_results.html", _crumbs(survey, (_l("結果"), None)), survey=survey, result=result,
                  respondents=people, state=services.state_of(survey), confirm=ConfirmForm(),
                  can_edit=current_user.can(Permission.EDIT), respondents_shown=services.RESPONDENTS_SHOWN)


@bp.post("/<int:survey_id>/export/answers")
@requires(Permission.EDIT)
def export_answers(survey_id: int) -> Any:
    survey = _survey(survey_id)
    return _send(survey, exports.export_answers)


@bp.post("/<int:survey_id>/export/summary")
@requires(Permission.VIEW)
def export_summary(survey_id: int) -> Any:
    survey = _survey(survey_id)
    return _send(survey, exports.export_summary)


def _send(survey: Survey, export: Any) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    result = export(db.session, current_user, survey, client_ip())
    db.session.commit()
    log.info("survey %s exported (%s) by staff %s", survey.id, result.filename, current_user.id)
    return send_file(result.writer.rewound(), mimetype=result.mimetype, as_attachment=True,
                     download_name=result.filename, max_age=0)
