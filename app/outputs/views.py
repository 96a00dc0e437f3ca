"""Output history screens (S-A6/A7): browse every mail send and produced file, and export the history."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires
from app.codes.models import Code
from app.core.pagination import paginate
from app.core.timeutil import TOKYO, to_tokyo
from app.extensions import db
from app.outputs import forms, services
from app.outputs.models import OutputKind
from app.outputs.services import HashingWriter, record_output
from app.staff.models import Permission

bp = staff_blueprint("outputs_admin", __name__, "/admin/outputs")
log = logging.getLogger("tsunagu.outputs")
CRUMB = _l("出力履歴")
PER_PAGE = 50
EXPORT_CHUNK = 1000


def _filter_form(args: MultiDict[str, str]) -> forms.OutputFilterForm:
    form = forms.OutputFilterForm(args)
    form.kind.choices = [("", _("すべて")), *[(kind, str(label)) for kind, label in services.KIND_LABELS.items()]]
    form.staff.choices = [(0, _("すべて")), *services.output_staff(db.session)]
    return form


def _filters(form: forms.OutputFilterForm) -> dict[str, Any]:
    return {"kind": form.kind.data or None, "staff_id": form.staff.data or None,
            "created_from": form.date_from.data, "created_to": form.date_to.data}


def _code_labels() -> dict[int, str]:
    return dict(db.session.execute(sa.select(Code.id, Code.label)).all())


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = _filter_form(request.args)
    filters: dict[str, Any] = {}
    page, status = 1, 200
    if form.validate():
        filters, page = _filters(form), form.page.data or 1
    else:
        status = 400
        log.warning("output history filter refused: %s", sorted(form.errors))
    stmt = services.history_statement(**filters)
    result = paginate(db.session, stmt, page, PER_PAGE)
    if page > result.pages:
        flash(_("%(page)d ページ目はありません。最後のページを表示しています。", page=page), "error")
        result = paginate(db.session, stmt, result.pages, PER_PAGE)
    audit.record(db.session, current_user, "output.list", "output:*",
                 {"filters": _describe(filters), "page": result.page, "shown": len(result.items)}, client_ip())
    db.session.commit()
    labels = _code_labels()
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    return render("outputs/index.html", [(CRUMB, None)], form=form, result=result, args=args,
                  summaries={entry.id: services.summarise_filters(entry.filter_description, labels)
                             for entry in result.items},
                  kind_labels=services.KIND_LABELS, query=urlencode(args),
                  can_edit=current_user.can(Permission.EDIT)), status


def _describe(filters: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, date) else value
            for key, value in filters.items() if value}


@bp.post("/export")
@requires(Permission.EDIT)
def export() -> Any:
    posted = forms.HistoryExportForm()
    if not posted.validate_on_submit():
        flash(_("出力の指定が正しくありません。"), "error")
        return redirect(url_for(".index"))
    form = _filter_form(MultiDict(parse_qsl(posted.query.data or "")))
    if not form.validate():
        flash(_("絞り込み条件を確認してください。"), "error")
        return redirect(url_for(".index"))
    filters = _filters(form)
    out = HashingWriter()
    count = _write_history(services.history_statement(**filters), out)
    moment = datetime.now(TOKYO)
    filename = f"tsunagu-output-history-{moment:%Y%m%d-%H%M}.csv"
    record_output(db.session, current_user, kind=OutputKind.CSV, title=str(_l("出力履歴")),
                  filters=_describe(filters), row_count=count, filename=filename, sha256=out.sha256, ip=client_ip())
    db.session.commit()
    return send_file(out.rewound(), mimetype="text/csv; charset=utf-8", as_attachment=True, download_name=filename,
                     max_age=0)


def _write_history(stmt: sa.Select[Any], out: HashingWriter) -> int:
    from app.searches.exports import write_csv

    labels = _code_labels()
    header = [str(label) for label in (_l("出力日時"), _l("種類"), _l("内容"), _l("出力した職員"), _l("条件"),
                                       _l("行数"), _l("ファイル名"), "SHA-256")]

    def rows() -> Any:
        for entry in db.session.scalars(stmt.execution_options(yield_per=EXPORT_CHUNK)):
            moment = to_tokyo(entry.created_at)
            yield [f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "",
                   str(services.KIND_LABELS.get(entry.kind, entry.kind)), entry.title, entry.staff_name,
                   services.summarise_filters(entry.filter_description, labels), entry.row_count, entry.filename or "", entry.sha256 or ""]

    return write_csv(rows(), header, out)

