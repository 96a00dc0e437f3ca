"""Application form (採用志願書) templates and downloads, and reports (S-A8/A9).

Permissions: viewing reports is VIEW; producing a file (a form, an xlsx report) is EDIT; the template,
which changes every form produced afterwards, is ADMIN. Every file and every printed report lands in the
output history (which also writes the audit event); an on-screen report is audited as a read.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, is_staff, requires, settings
from app.core.timeutil import utcnow
from app.documents import fields, forms, reports, services
from app.documents.models import TEMPLATE_MAX_BYTES, FormTemplate
from app.extensions import db
from app.outputs.models import OutputKind
from app.outputs.services import HashingWriter, record_output, sha256_of
from app.registrants.models import Registrant
from app.staff.models import Permission

bp = staff_blueprint("documents_admin", __name__, "/admin/documents")
log = logging.getLogger("tsunagu.documents")
CRUMB = (_l("様式・帳票"), "documents_admin.index")
REPORTS_CRUMB = (_l("帳票"), "documents_admin.reports_index")
UPLOAD_SLACK = 256 * 1024  # room for the multipart envelope, so the service can name the limit itself


@bp.url_value_preprocessor
def _allow_template_upload(endpoint: str | None, _values: Any) -> None:
    """A template may exceed the site-wide request limit (up to 5 MB), but only for administrators."""
    if endpoint == "documents_admin.template_upload" and is_staff() and current_user.can(Permission.ADMIN):
        request.max_content_length = max(settings().max_request_bytes, TEMPLATE_MAX_BYTES + UPLOAD_SLACK)


def _crumbs(*more: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(CRUMB[0], url_for(CRUMB[1])), *more]


def _xlsx_response(data: Any, filename: str) -> Response:
    response = send_file(data, mimetype=services.XLSX_MIMETYPE, as_attachment=True, download_name=filename,
                         max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the documents page and the application form ------------------------------------------------------------

@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.ApplicationLookupForm(formdata=None)
    template = services.active_template(db.session)
    return render("documents/index.html", [(CRUMB[0], None)], form=form, active_template=template)


@bp.get("/application")
@requires(Permission.EDIT)
def application_lookup() -> Any:
    """The documents page's form: check the id, then hand over to the download URL."""
    form = forms.ApplicationLookupForm(request.args)
    if form.validate() and db.session.get(Registrant, form.registrant_id.data) is not None:
        return redirect(url_for(".application_xlsx", registrant_id=form.registrant_id.data,
                                era=form.era.data or "1"))
    if not form.errors:
        form.registrant_id.errors = [_("この登録者IDの登録者はいません。")]
    template = services.active_template(db.session)
    return render("documents/index.html", [(CRUMB[0], None)], form=form, active_template=template), 400


@bp.get("/application/<int:registrant_id>.xlsx")
@requires(Permission.EDIT)
def application_xlsx(registrant_id: int) -> Any:
    registrant = db.get_or_404(Registrant, registrant_id)
    era = request.args.get("era", "1") != "0"
    today = services.tokyo_today()
    try:
        data = services.application_form(db.session, registrant, era=era, today=today)
    except Exception:  # a stored template that no longer opens: tell the user, keep the trace for the operator
        log.exception("application form could not be filled (registrant %s)", registrant_id)
        flash(_("採用志願書を作成できませんでした。様式のテンプレートを確認してください(管理者)。"), "error")
        return redirect(url_for(".index"))
    filename = services.form_filename(registrant.id, today)
    services.record_form_output(db.session, current_user, registrant.id, filename=filename, data=data, era=era,
                                ip=client_ip())
    db.session.commit()
    return _xlsx_response(io.BytesIO(data), filename)  # one small file, already in memory


# --- templates (administrators) ----------------------------------------------------------------------------

def _templates_page(form: forms.TemplateUploadForm, status: int = 200) -> Any:
    return render("documents/templates.html", _crumbs((_l("採用志願書のテンプレート"), None)), form=form,
                  action_form=forms.ActionForm(), history=services.template_history(db.session),
                  active=services.active_template(db.session), required=fields.REQUIRED, optional=fields.OPTIONAL,
                  max_mb=TEMPLATE_MAX_BYTES // (1024 * 1024)), status


@bp.get("/templates")
@requires(Permission.ADMIN)
def templates() -> Any:
    return _templates_page(forms.TemplateUploadForm())


@bp.post("/templates")
@requires(Permission.ADMIN)
def template_upload() -> Any:
    form = forms.TemplateUploadForm()
    if not form.validate_on_submit():
        return _templates_page(form, 400)
    upload = form.file.data
    content = upload.read(TEMPLATE_MAX_BYTES + 1)
    try:
        template, warnings = services.store_template(db.session, current_user, filename=upload.filename or "",
                                           content=content, ip=client_ip())
    except services.TemplateError as exc:
        db.session.rollback()
        log.warning("template upload refused (staff %s, %d bytes): %s", current_user.id, len(content), exc)
        form.file.errors = [str(exc), _("テンプレートは登録していません。")]
        return _templates_page(form, 400)
    db.session.commit()
    flash(_("テンプレート「%(name)s」を登録しました。次に作成する採用志願書から使われます。", name=template.filename), "info")
    for warning in warnings:
        flash(warning, "error")
    return redirect(url_for(".templates"))


@bp.post("/templates/<int:form_template_id>/activate")
@requires(Permission.ADMIN)
def template_activate(form_template_id: int) -> Any:
    template = db.get_or_404(FormTemplate, form_template_id)
    if forms.ActionForm().validate_on_submit():
        services.activate_template(db.session, current_user, template, client_ip())
        db.session.commit()
        flash(_("テンプレート「%(name)s」を使用中にしました。", name=template.filename), "info")
    return redirect(url_for(".templates"))


@bp.post("/templates/default")
@requires(Permission.ADMIN)
def template_use_default() -> Any:
    if forms.ActionForm().validate_on_submit():
        services.use_default_template(db.session, current_user, client_ip())
        db.session.commit()
        flash(_("既定のテンプレートを使用中にしました。"), "info")
    return redirect(url_for(".templates"))


@bp.get("/templates/<int:form_template_id>.xlsx")
@requires(Permission.ADMIN)
def template_download(form_template_id: int) -> Any:
    template = db.get_or_404(FormTemplate, form_template_id)
    audit.record(db.session, current_user, "document.template_download", f"form_template:{template.id}",
                 {"sha256": template.sha256}, client_ip())
    db.session.commit()
    return _xlsx_response(io.BytesIO(template.content), f"tsunagu-template-{template.id}.xlsx")


@bp.get("/templates/default.xlsx")
@requires(Permission.ADMIN)
def default_template_download() -> Any:
    data = services.default_template_bytes()
    audit.record(db.session, current_user, "document.template_download", "form_template:default",
                 {"sha256": sha256_of(data)}, client_ip())
    db.session.commit()
    return _xlsx_response(io.BytesIO(data), "tsunagu-application-form-default.xlsx")


# --- reports -------------------------------------------------------------------------------------------------

@bp.get("/reports")
@requires(Permission.VIEW)
def reports_index() -> Any:
    return render("documents/reports_index.html", _crumbs((REPORTS_CRUMB[0], None)))


def _period_form() -> tuple[forms.PeriodForm, reports.Period, str]:
    form = forms.PeriodForm(reports.fiscal_year_choices(db.session), request.args)
    if form.validate():
        return form, reports.period_for(form.year()), form.scope.data or "active"
    flash(_("期間または対象の指定が正しくないため、直近12か月・有効な登録者で表示しています。"), "error")
    log.info("report filter refused: %s", sorted(form.errors))
    fresh = forms.PeriodForm(reports.fiscal_year_choices(db.session), formdata=None)
    return fresh, reports.period_for(None), "active"


def _report_page(key: str, title: Any, body: str, filters: dict[str, Any], row_count: int, **context: Any) -> Any:
    """The report on screen (audited as a read), or with ?print=1 the print layout (recorded as an output)."""
    printing = request.args.get("print") == "1"
    args = {k: v for k, v in request.args.lists() if k != "print"}
    if not printing:
        audit.record(db.session, current_user, "report.view", f"report:{key}", {"filters": filters,
                                                                             "rows": row_count}, client_ip())
        db.session.commit()
        return render("documents/report.html", _crumbs((REPORTS_CRUMB[0], url_for(REPORTS_CRUMB[1])), (title, None)),
                      title=title, body=body, key=key, args=args, printing=False, **context)
    html = render_template("documents/print.html", title=title, body=body, key=key, args=args, printing=True,
                           printed_at=utcnow(), **context)
    record_output(db.session, current_user, kind=OutputKind.REPORT, title=_("%(title)s(印刷)", title=title),
                  filters={"report": key, **filters}, row_count=row_count, filename=None,
                  sha256=sha256_of(html.encode()), ip=client_ip())
    db.session.commit()
    return html


def _report_xlsx(key: str, title: Any, filters: dict[str, Any], row_count: int, write: Any) -> Response:
    writer = HashingWriter()
    lines = reports.report_lines(current_user.display_name, utcnow(), filters.get("condition", ""))
    written = write(lines, writer)
    rows = written if isinstance(written, int) else row_count
    filename = f"tsunagu-report-{key}-{services.tokyo_today():%Y%m%d}.xlsx"
    record_output(db.session, current_user, kind=OutputKind.REPORT, title=str(title),
                  filters={"report": key, **filters}, row_count=rows, filename=filename, sha256=writer.sha256,
                  ip=client_ip())
    db.session.commit()
    return _xlsx_response(writer.rewound(), filename)


COUNTS_TITLE = _l("登録者数の集計")
SYNC_TITLE = _l("同期履歴")
MAIL_TITLE = _l("メール送信履歴")


def _counts() -> tuple[forms.PeriodForm, reports.CountsReport, dict[str, Any]]:
    form, period, scope = _period_form()
    report = reports.counts_report(db.session, period, scope)
    condition = f"{period.label} / {reports.SCOPES[report.scope]}"
    return form, report, {**period.describe(), "scope": report.scope, "condition": condition}


@bp.get("/reports/counts")
@requires(Permission.VIEW)
def counts_report() -> Any:
    form, report, filters = _counts()
    return _report_page("counts", COUNTS_TITLE, "documents/reports/_counts.html", filters, report.total,
                        form=form, report=report, condition=filters["condition"],
                        scope_label=reports.SCOPES[report.scope])


@bp.get("/reports/counts.xlsx")
@requires(Permission.EDIT)
def counts_report_xlsx() -> Any:
    _form, report, filters = _counts()
    return _report_xlsx("counts", COUNTS_TITLE, filters, report.total,
                        lambda lines, writer: reports.counts_workbook(report, lines, writer))


def _period_filters(period: reports.Period) -> dict[str, Any]:
    return {**period.describe(), "condition": period.label}


@bp.get("/reports/sync")
@requires(Permission.VIEW)
def sync_report() -> Any:
    form, period, _scope = _period_form()
    report = reports.sync_report(db.session, period)
    filters = _period_filters(period)
    return _report_page("sync", SYNC_TITLE, "documents/reports/_sync.html", filters, report.total_runs, form=form,
                        report=report, condition=filters["condition"], shown_limit=reports.HTML_SYNC_ROWS,
                        run_status=reports.RUN_STATUS_LABELS, triggers=reports.TRIGGER_LABELS)


@bp.get("/reports/sync.xlsx")
@requires(Permission.EDIT)
def sync_report_xlsx() -> Any:
    _form, period, _scope = _period_form()
    report = reports.sync_report(db.session, period, limit=None)
    return _report_xlsx("sync", SYNC_TITLE, _period_filters(period), report.total_runs,
                        lambda lines, writer: reports.sync_workbook(report, lines, writer))


@bp.get("/reports/mail")
@requires(Permission.VIEW)
def mail_report() -> Any:
    form, period, _scope = _period_form()
    report = reports.mail_report(db.session, period)
    filters = _period_filters(period)
    return _report_page("mail", MAIL_TITLE, "documents/reports/_mail.html", filters, report.total_campaigns,
                        form=form, report=report, condition=filters["condition"], shown_limit=reports.HTML_MAIL_ROWS,
                        statuses=reports.outbox_statuses(), campaign_status=reports.CAMPAIGN_STATUS_LABELS)


@bp.get("/reports/mail.xlsx")
@requires(Permission.EDIT)
def mail_report_xlsx() -> Any:
    _form, period, _scope = _period_form()
    report = reports.mail_report(db.session, period, limit=None)
    return _report_xlsx("mail", MAIL_TITLE, _period_filters(period), report.total_campaigns,
                        lambda lines, writer: reports.mail_workbook(report, lines, writer))


MATCHING_TITLE = _l("マッチング・選考状況")


@bp.get("/reports/matching")
@requires(Permission.VIEW)
def matching_report() -> Any:
    form, period, _scope = _period_form()
    report = reports.matching_report(db.session, period)
    filters = _period_filters(period)
    return _report_page("matching", MATCHING_TITLE, "documents/reports/_matching.html", filters,
                        report.total_postings, form=form, report=report, condition=filters["condition"],
                        shown_limit=reports.HTML_POSTING_ROWS, stages=reports.stage_labels(),
                        posting_status=reports.POSTING_STATUS_LABELS, wide=True)


@bp.get("/reports/matching.xlsx")
@requires(Permission.EDIT)
def matching_report_xlsx() -> Any:
    _form, period, _scope = _period_form()
    report = reports.matching_report(db.session, period, limit=None)
    return _report_xlsx("matching", MATCHING_TITLE, _period_filters(period), report.total_postings,
                        lambda lines, writer: reports.matching_workbook(report, lines, writer))


# --- the registrant list (the search page's criteria, columns and order) ------------------------------------

REGISTRANTS_TITLE = _l("登録者一覧")


def _registrant_search() -> tuple[dict[str, Any], list[str], str]:
    """The search page's query args; SearchError (a Japanese message) for anything unusable."""
    from app.searches.columns import parse_columns
    from app.searches.services import DEFAULT_SORT, criteria_from_args, sort_key

    args = request.args
    criteria = criteria_from_args(args)
    columns = parse_columns(args.getlist("col") if "col" in args else args.get("columns"))
    sort = args.get("sort") or DEFAULT_SORT
    sort_key(sort)
    return criteria, columns, sort


def _registrant_filters(criteria: dict[str, Any], columns: list[str], sort: str) -> dict[str, Any]:
    from app.searches.services import describe

    return {"criteria": describe(criteria), "columns": columns, "sort": sort,
            "condition": reports.criteria_text(db.session, criteria)}


@bp.get("/reports/registrants")
@requires(Permission.VIEW)
def registrant_report() -> Any:
    from app.searches.columns import COLUMNS
    from app.searches.exports import stream_rows
    from app.searches.services import SearchError, count_matching, search_statement

    try:
        criteria, columns, sort = _registrant_search()
    except SearchError as exc:
        log.warning("registrant report refused: %s staff=%s", exc, current_user.id)
        flash(str(exc), "error")
        return render("documents/report.html", _crumbs((REPORTS_CRUMB[0], url_for(REPORTS_CRUMB[1])),
                                                       (REGISTRANTS_TITLE, None)),
                      title=REGISTRANTS_TITLE, body="documents/reports/_refused.html", key="registrants",
                      args={}, printing=False, condition=_("検索条件を確認してください。")), 400
    filters = _registrant_filters(criteria, columns, sort)
    total = count_matching(db.session, criteria)
    statement = search_statement(criteria, sort).limit(reports.HTML_REGISTRANT_ROWS)
    rows = list(stream_rows(db.session, statement, columns))
    search_url = url_for("search_admin.index", **{k: v for k, v in request.args.lists() if k != "print"}) \
        if "search_admin.index" in current_app.view_functions else None
    return _report_page("registrants", REGISTRANTS_TITLE, "documents/reports/_registrants.html", filters, total,
                        headers=[str(COLUMNS[key].label) for key in columns], rows=rows, total=total,
                        shown_limit=reports.HTML_REGISTRANT_ROWS, condition=filters["condition"],
                        search_form_url=search_url, wide=len(columns) > 6)


@bp.get("/reports/registrants.xlsx")
@requires(Permission.EDIT)
def registrant_report_xlsx() -> Any:
    from app.searches.columns import COLUMNS
    from app.searches.exports import stream_rows
    from app.searches.services import SearchError, search_statement

    try:
        criteria, columns, sort = _registrant_search()
    except SearchError as exc:
        log.warning("registrant report refused: %s staff=%s", exc, current_user.id)
        flash(str(exc), "error")
        return redirect(url_for(".registrant_report"))
    filters = _registrant_filters(criteria, columns, sort)
    headers = [str(COLUMNS[key].label) for key in columns]
    rows = stream_rows(db.session, search_statement(criteria, sort), columns)
    return _report_xlsx("registrants", REGISTRANTS_TITLE, filters, 0,
                        lambda lines, writer: reports.registrant_workbook(str(REGISTRANTS_TITLE), lines, headers,
                                                                          rows, writer))
