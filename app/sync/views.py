"""Admin pages of the e-application sync (S1): run history and "run now", quarantine, duplicate candidates."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import forms as admin_forms
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.core.pagination import paginate
from app.extensions import db
from app.registrants.models import Registrant
from app.staff.models import Permission
from app.sync import forms, services
from app.sync.connector import parse_timestamp
from app.sync.models import SyncRun

bp = staff_blueprint("sync_admin", __name__, "/admin/sync")
CRUMB = _l("電子申請連携")
REASON_LABELS = {"same_email": _l("メールアドレスが同じ"), "same_name_birth_date": _l("氏名と生年月日が同じ")}
RUN_STATUS_LABELS = {"running": _l("実行中"), "succeeded": _l("成功"), "failed": _l("失敗")}
TRIGGER_LABELS = {"timer": _l("定時"), "manual": _l("コマンド"), "staff": _l("管理画面")}
CHART_RUNS = 20


def _home() -> tuple[Any, str]:
    return CRUMB, url_for(".index")


# --- history and run now -----------------------------------------------------------------------------

@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.HistoryForm(request.args)
    page = form.page.data if form.validate() and form.page.data else 1
    history = paginate(db.session, sa.select(SyncRun).where(SyncRun.source == services.SOURCE)
                       .order_by(SyncRun.id.desc()), page, 20)
    chart_runs = list(reversed(services.recent_runs(db.session, limit=CHART_RUNS)))
    view = services.overview(db.session)
    try:
        cursor_at = parse_timestamp(view.cursor) if view.cursor else None
    except ValueError:
        cursor_at = None
    return render("sync/index.html", [(CRUMB, None)], view=view, history=history, cursor_at=cursor_at,
                  sync_times=settings().sync_times, chart=_chart(chart_runs), confirm=admin_forms.ConfirmForm(),
                  configured=bool(settings().sync_api_url), run_status=RUN_STATUS_LABELS, triggers=TRIGGER_LABELS)


def _chart(runs: list[SyncRun]) -> dict[str, Any]:
    """Geometry of a grouped bar chart (created, updated per run) drawn as SVG attributes (no inline style)."""
    top = max([max(run.created, run.updated) for run in runs] + [1])
    left, bottom, slot, height = 44, 190, 30, 220
    width = left + CHART_RUNS * slot + 16
    bars = []
    for n, run in enumerate(runs):
        x = left + n * slot
        created_h = round(run.created / top * 160, 1)
        updated_h = round(run.updated / top * 160, 1)
        bars.append({"run": run, "x": x + 3, "created_y": bottom - created_h, "created_h": created_h,
                     "updated_x": x + 15, "updated_y": bottom - updated_h, "updated_h": updated_h,
                     "label_x": x + 15})
    return {"bars": bars, "top": top, "width": width, "height": height, "left": left, "bottom": bottom}


@bp.post("/run")
@requires(Permission.EDIT)
def run_now() -> Any:
    if not admin_forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        run = services.run_sync(db.session, settings(), "staff", requested_by=current_user.id)
    except services.SyncAlreadyRunning as exc:
        flash(str(exc), "error")
    except services.SyncError as exc:
        flash(_("同期を開始できませんでした: %(reason)s", reason=str(exc)), "error")
    else:
        if run.status == "succeeded":
            flash(_("同期が完了しました(取得 %(fetched)d 件、新規 %(created)d 件、更新 %(updated)d 件、"
                    "隔離 %(quarantined)d 件、重複候補 %(duplicates)d 件)。", fetched=run.fetched, created=run.created,
                    updated=run.updated, quarantined=run.quarantined, duplicates=run.duplicates), "info")
        else:
            flash(_("同期は失敗しました: %(reason)s", reason=run.error or ""), "error")
    return redirect(url_for(".index"))


# --- quarantine -----------------------------------------------------------------------------------------

def _payload(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _reasons(text: str) -> list[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return [text]
    return [str(item) for item in data] if isinstance(data, list) else [str(data)]


@bp.get("/quarantine")
@requires(Permission.VIEW)
def quarantine() -> Any:
    form = forms.QuarantineFilterForm(request.args)
    include_resolved = bool(form.validate() and form.resolved.data)
    rows = services.quarantined(db.session, include_resolved=include_resolved)
    items = []
    for row in rows:
        data = _payload(row.payload)
        name = " ".join(str(data.get(key) or "") for key in ("family_name", "given_name")).strip()
        items.append({"row": row, "name": name, "email": data.get("email") or "", "reasons": _reasons(row.reasons)})
    audit.record(db.session, current_user, "sync.quarantine.list", "quarantined_record:*",
                 {"shown": len(items), "resolved_included": include_resolved}, client_ip())
    db.session.commit()
    return render("sync/quarantine.html", [_home(), (_l("取り込めなかったレコード"), None)], items=items, form=form,
                  include_resolved=include_resolved)


# --- duplicate candidates ---------------------------------------------------------------------------------

@bp.get("/duplicates")
@requires(Permission.VIEW)
def duplicates() -> Any:
    candidates = services.open_duplicates(db.session)
    registrants = {r.id: r for r in db.session.scalars(sa.select(Registrant).where(
        Registrant.id.in_([c.registrant_id for c in candidates])))} if candidates else {}
    items = []
    for candidate in candidates:
        data = _payload(candidate.payload)
        items.append({"candidate": candidate, "incoming": data, "birth_date": _birth(data.get("birth_date")),
                      "existing": registrants.get(candidate.registrant_id),
                      "reason": REASON_LABELS.get(candidate.reason, candidate.reason)})
    audit.record(db.session, current_user, "sync.duplicate.list", "duplicate_candidate:*", {"shown": len(items)},
                 client_ip())
    db.session.commit()
    return render("sync/duplicates.html", [_home(), (_l("重複候補"), None)], items=items)


def _birth(value: Any) -> str:
    if not value:
        return ""
    try:
        from app.core.jpdate import parse_date

        day = value if isinstance(value, date) else parse_date(str(value))
    except ValueError:
        return str(value)
    return day.isoformat()


@bp.post("/duplicates/merge")
@requires(Permission.EDIT)
def merge() -> Any:
    return _decide(merge=True)


@bp.post("/duplicates/dismiss")
@requires(Permission.EDIT)
def dismiss() -> Any:
    return _decide(merge=False)


def _decide(merge: bool) -> Any:
    form = forms.CandidateForm()
    candidate_id = form.candidate() if form.validate_on_submit() else None
    if candidate_id is None:
        abort(400)
    try:
        if merge:
            registrant = services.merge_duplicate(db.session, settings(), current_user, candidate_id, client_ip())
            flash(_("%(name)s さんに統合しました。", name=registrant.full_name), "info")
        else:
            outcome = services.dismiss_duplicate(db.session, settings(), current_user, candidate_id, client_ip())
            if outcome is not None and outcome.value == "created":
                flash(_("別人として登録しました(パスワード設定の案内メールを送ります)。"), "info")
            elif outcome is not None and outcome.value == "duplicate":
                flash(_("メールアドレスが既存の登録者と同じため、引き続き重複候補として保留しています。"), "error")
            elif outcome is not None and outcome.value == "quarantined":
                flash(_("別人としましたが、内容に不備があるため取り込めませんでした(隔離一覧を確認してください)。"), "error")
            else:
                flash(_("別人として扱います。連携元でメールアドレスが変わると取り込まれます。"), "info")
    except services.DuplicateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for(".duplicates"))
