"""Match lists, the pipeline and the score weights (S-A13)."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires
from app.extensions import db
from app.matching import forms, pipeline, scoring
from app.postings.models import JobPosting, PostingCodeRole
from app.registrants.models import Registrant
from app.staff.models import Permission

bp = staff_blueprint("matching_admin", __name__, "/admin/matching")
log = logging.getLogger("tsunagu.matching")
MAX_SELECTION = 1000


def _has(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def _posting_crumbs(posting: JobPosting) -> list[tuple[Any, str | None]]:
    if _has("postings_admin.detail"):
        return [(_l("求人"), url_for("postings_admin.index")),
                (posting.title, url_for("postings_admin.detail", posting_id=posting.id))]
    return [(posting.title, None)]


def _posting_codes(posting: JobPosting) -> dict[str, list[Any]]:
    return {role.value: posting.codes_for(db.session, role) for role in PostingCodeRole}


def _page() -> int:
    form = forms.PageForm(request.args)
    return (form.page.data or 1) if form.validate() else 1


def panel(posting: JobPosting) -> dict[str, Any]:
    """The pipeline of a posting: counts by stage, candidates grouped by stage, and whether it can be filled."""
    rows = pipeline.candidates(db.session, posting.id)
    counts = pipeline.counts_by_stage(db.session, posting.id)
    by_stage = {stage: [(c, r) for c, r in rows if c.stage == stage] for stage in pipeline.STAGES}
    return {"counts": counts, "total": sum(counts.values()), "by_stage": by_stage, "rows": rows,
            "can_fill": pipeline.can_fill(db.session, posting), "stage_labels": pipeline.STAGE_LABELS}


@bp.app_template_global("matching_panel")
def matching_panel(posting: JobPosting) -> dict[str, Any]:
    return panel(posting)


@bp.get("/postings/<int:posting_id>")
@requires(Permission.VIEW)
def for_posting(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    ranking = scoring.rank_registrants(db.session, posting, _page())
    audit.record(db.session, current_user, "matching.list", f"posting:{posting.id}",
                 {"count": ranking.total, "page": ranking.page, "shown": len(ranking.items)}, client_ip())
    db.session.commit()
    top = max([item.score for item in ranking.items] + [1])
    return render("matching/for_posting.html", [*_posting_crumbs(posting), (_l("マッチング"), None)],
                  posting=posting, codes=_posting_codes(posting), ranking=ranking, top=top, panel=panel(posting),
                  can_mail=_has("mail_compose.new"),
                  can_edit=current_user.can(Permission.EDIT), stage_label=pipeline.stage_label)


def _selected_ids(values: list[str]) -> tuple[list[int], int]:
    """Positive integer ids of a posted selection, and how many values were not ids at all."""
    ids, junk = [], 0
    for value in values:
        text = value.strip()
        if text.isdigit() and 0 < int(text) < 2**31:
            ids.append(int(text))
        else:
            junk += 1
    return ids, junk


@bp.post("/postings/<int:posting_id>/propose")
@requires(Permission.EDIT)
def propose(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    back = redirect(url_for(".for_posting", posting_id=posting.id))
    if not forms.ActionForm().validate_on_submit():
        flash(_("画面の有効期限が切れました。もう一度操作してください。"), "error")
        return back
    ids, junk = _selected_ids(request.form.getlist("registrant_id"))
    if not ids:
        flash(_("候補に追加する人を選んでください。"), "error")
        return back
    if len(ids) > MAX_SELECTION:
        flash(_("一度に追加できるのは %(n)d 人までです。", n=MAX_SELECTION), "error")
        return back
    result = pipeline.propose(db.session, current_user, posting, ids, client_ip())
    db.session.commit()
    if result.added:
        flash(_("%(n)d 人を候補に追加しました(対応履歴にも記録しました)。", n=len(result.added)), "info")
    if result.already:
        flash(_("%(n)d 人はすでに候補に入っています。", n=len(result.already)), "info")
    refused = len(result.refused) + junk
    if refused:
        log.info("matching propose: %d selected ids refused posting=%s", refused, posting.id)
        flash(_("%(n)d 人は退会・期限切れ・同意の撤回などで条件に合わなくなったため、追加しませんでした。", n=refused), "error")
    return back


def _back_to_pipeline(posting: JobPosting) -> Any:
    """Back to the page the pipeline form was on: the posting detail page or the match list."""
    if request.form.get("next") == "posting" and _has("postings_admin.detail"):
        return redirect(url_for("postings_admin.detail", posting_id=posting.id) + "#pipeline")
    return redirect(url_for(".for_posting", posting_id=posting.id) + "#pipeline")


@bp.post("/postings/<int:posting_id>/stage")
@requires(Permission.EDIT)
def set_stage(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    back = _back_to_pipeline(posting)
    form = forms.StageForm()
    ids, _junk = _selected_ids([form.registrant_id.data or ""])
    if not form.validate_on_submit() or not ids:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        if not form.errors:
            flash(_("選考段階を変更できませんでした。もう一度操作してください。"), "error")
        return back
    if pipeline.candidate(db.session, posting.id, ids[0]) is None:
        flash(_("この人はこの求人の候補に入っていません。"), "error")
        return back
    try:
        pipeline.set_stage(db.session, current_user, posting, ids[0], form.stage.data, note=form.note.data,
                           ip=client_ip())
    except pipeline.PipelineError as exc:
        db.session.rollback()
        log.info("matching stage refused posting=%s: %s", posting.id, exc)
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(_("選考段階を「%(stage)s」にしました(対応履歴にも記録しました)。", stage=pipeline.stage_label(form.stage.data)),
          "info")
    return back


@bp.post("/postings/<int:posting_id>/fill")
@requires(Permission.EDIT)
def fill(posting_id: int) -> Any:
    posting = db.get_or_404(JobPosting, posting_id)
    back = _back_to_pipeline(posting)
    if not forms.ActionForm().validate_on_submit():
        flash(_("画面の有効期限が切れました。もう一度操作してください。"), "error")
        return back
    try:
        pipeline.fill_posting(db.session, current_user, posting, client_ip())
    except pipeline.PipelineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(_("求人を充足にしました。"), "info")
    return back


@bp.get("/registrants/<int:registrant_id>")
@requires(Permission.VIEW)
def for_registrant(registrant_id: int) -> Any:
    registrant = db.get_or_404(Registrant, registrant_id)
    ranking = scoring.rank_postings(db.session, registrant, _page())
    audit.record(db.session, current_user, "matching.registrant", f"registrant:{registrant.id}",
                 {"count": ranking.total, "page": ranking.page}, client_ip())
    db.session.commit()
    top = max([item.score for item in ranking.items] + [1])
    return render("matching/for_registrant.html",
                  [(_l("登録者一覧"), url_for("admin.registrant_list")),
                   (registrant.full_name, url_for("admin.registrant_detail", registrant_id=registrant.id)),
                   (_l("合う求人"), None)],
                  registrant=registrant, ranking=ranking, top=top, can_match=scoring.registrant_can_match(registrant),
                  stage_label=pipeline.stage_label)


@bp.route("/weights", methods=["GET", "POST"])
@requires(Permission.ADMIN)
def weights() -> Any:
    current = scoring.current_weights(db.session)
    form = forms.weights_form(formdata=request.form if request.method == "POST" else None, data=current)
    if request.method == "POST":
        if form.validate_on_submit():
            new = {key: form[key].data for key in scoring.WEIGHTS}
            changes = scoring.save_weights(db.session, current_user, new, client_ip())
            db.session.commit()
            flash(_("重みを保存しました(%(n)d 件変更)。", n=len(changes)) if changes else _("変更はありません。"), "info")
            return redirect(url_for(".weights"))
        log.info("matching weights refused: %s", sorted(form.errors))
        flash(_("入力内容を確認してください。範囲外の値は保存されていません。"), "error")
    return render("matching/weights.html", [(_l("マッチングの重み"), None)], form=form, weights=scoring.WEIGHTS,
                  current=current, defaults=scoring.defaults(), reset_form=forms.ActionForm(formdata=None)), (
        400 if form.errors else 200)


@bp.post("/weights/reset")
@requires(Permission.ADMIN)
def reset_weights() -> Any:
    if forms.ActionForm().validate_on_submit():
        changes = scoring.reset_weights(db.session, current_user, client_ip())
        db.session.commit()
        flash(_("重みを初期値に戻しました(%(n)d 件変更)。", n=len(changes)), "info")
    else:
        flash(_("画面の有効期限が切れました。もう一度操作してください。"), "error")
    return redirect(url_for(".weights"))
