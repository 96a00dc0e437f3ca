"""Job posting screens for staff (S-A12): list and search, detail, create, edit, copy, open and close."""

from __future__ import annotations

import logging
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.core.timeutil import from_tokyo_input, to_tokyo_input
from app.extensions import db
from app.postings import forms, services
from app.postings.models import JobPosting, PostingCodeRole
from app.staff.models import Permission

bp = staff_blueprint("postings_admin", __name__, "/admin/postings")
log = logging.getLogger("tsunagu.postings")
LIST_CRUMB = _l("求人")
STATUS_DONE = {"open": _l("求人を公開しました(募集中)。"), "closed": _l("求人を終了しました。"),
               "filled": _l("求人を充足にしました。")}




@bp.app_context_processor
def _posting_names() -> dict[str, Any]:
    return {"posting_status_label": lambda status: services.STATUS_LABELS.get(status, status)}


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.PostingSearchForm(request.args)
    form.load_choices(db.session)
    criteria, page = services.Criteria(), 1
    if form.validate():
        criteria = services.Criteria(text=form.q.data or "", status=form.status.data or None,
                                     region_id=form.region.data or None, job_type_id=form.job_type.data or None,
                                     school_type_id=form.school_type.data or None,
                                     subject_id=form.subject.data or None, period_from=form.period_from.data,
                                     period_to=form.period_to.data)
        page = form.page.data or 1
    result = services.search(db.session, criteria, page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render("postings/list.html", [(LIST_CRUMB, None)], form=form, result=result, args=args,
                  period_text=services.period_text)


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    return _posting_form(None, [(LIST_CRUMB, url_for(".index")), (_l("求人の作成"), None)])


@bp.get("/<int:posting_id>")
@requires(Permission.VIEW)
def detail(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    return render("postings/detail.html", [(LIST_CRUMB, url_for(".index")), (posting.title, None)],
                  posting=posting, codes=services.posting_codes(db.session, posting), roles=PostingCodeRole,
                  on_portal=settings().portal_show_postings and posting.show_in_portal and services.is_open_now(posting),
                  portal_enabled=settings().portal_show_postings, status_form=forms.StatusForm(),
                  action_form=forms.ActionForm(), period_text=services.period_text)


@bp.route("/<int:posting_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    return _posting_form(posting, [(LIST_CRUMB, url_for(".index")),
                                   (posting.title, url_for(".detail", posting_id=posting.id)), (_l("編集"), None)])


def _posting_form(posting: JobPosting | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.PostingForm()
    current = services.PostingValues.of(db.session, posting) if posting else None
    form.load_choices(db.session, services.kept_code_ids(db.session, posting))
    if current is not None and not form.is_submitted():
        form.fill_from(current, to_tokyo_input)
    if form.is_submitted():
        saved = _save(form, posting)
        if saved is not None:
            return saved
    return render("postings/form.html", crumbs, form=form, posting=posting)


def _save(form: forms.PostingForm, posting: JobPosting | None) -> Any:
    """Validate shape and meaning together, so every field shows its problems at once; save if none."""
    shape_ok = form.validate_on_submit()
    if form.csrf_token.errors:
        flash(_("画面の有効期限が切れました。もう一度送信してください。"), "error")
        return None
    values = form.values(from_tokyo_input)
    problems = services.check(db.session, values, posting)
    for name, messages in problems.items():
        if not form[name].errors:  # a format error already says what is wrong with this field
            form[name].errors = [*form[name].errors, *messages]
    if not shape_ok or problems:
        log.info("posting form refused: fields=%s", sorted(name for name in form.errors if name != "csrf_token"))
        flash(_("入力内容を確認してください。各項目のメッセージをご覧ください。"), "error")
        return None
    try:
        saved = services.save_posting(db.session, current_user, values, posting, client_ip())
    except services.PostingInvalid as exc:  # changed in between (e.g. a code retired meanwhile)
        db.session.rollback()
        for name, messages in exc.errors.items():
            form[name].errors = [*form[name].errors, *messages]
        flash(_("入力内容を確認してください。各項目のメッセージをご覧ください。"), "error")
        return None
    db.session.commit()
    flash(_("求人を保存しました。") if posting else _("求人を下書きとして保存しました。内容を確認して公開してください。"), "info")
    return redirect(url_for(".detail", posting_id=saved.id))


@bp.post("/<int:posting_id>/copy")
@requires(Permission.EDIT)
def copy(posting_id: int) -> Any:
    source = db.get_or_404(JobPosting, posting_id)
    if not forms.ActionForm().validate_on_submit():
        flash(_("画面の有効期限が切れました。もう一度操作してください。"), "error")
        return redirect(url_for(".detail", posting_id=source.id))
    posting = services.copy_posting(db.session, current_user, source, client_ip())
    db.session.commit()
    flash(_("求人をコピーして下書きを作りました。内容を直して保存してください。"), "info")
    return redirect(url_for(".edit", posting_id=posting.id))


@bp.post("/<int:posting_id>/status")
@requires(Permission.EDIT)
def change_status(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    form = forms.StatusForm()
    if not form.validate_on_submit():
        flash(_("操作を受け付けられませんでした。もう一度操作してください。"), "error")
        return redirect(url_for(".detail", posting_id=posting.id))
    try:
        services.set_status(db.session, current_user, posting, form.to.data, client_ip())
    except services.StatusRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(str(STATUS_DONE[form.to.data]), "info")
    return redirect(url_for(".detail", posting_id=posting.id))
