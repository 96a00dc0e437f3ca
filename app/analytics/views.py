"""The analytics dashboard and the monthly and fiscal-year report downloads.

Everything here is aggregate (no registrant is named), so a viewer may see it and download the reports.
The dashboard first summarises a bounded number of missing closed days (`flask analytics rollup` does
the rest); the report downloads land in the output history.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.analytics import charts, forms, report, services
from app.analytics.rollup import DASHBOARD_MAX_DAYS, rollup
from app.auth.web import client_ip, requires
from app.core.timeutil import tokyo_today
from app.extensions import db
from app.staff.models import Permission

bp = staff_blueprint("analytics_admin", __name__, "/admin/analytics")
log = logging.getLogger("tsunagu.analytics")
CRUMB = _l("利用状況・月次報告")


def _charts(board: services.Dashboard) -> dict[str, charts.Chart]:
    labels = [b.label for b in board.buckets]
    shorts = [b.short for b in board.buckets]
    active = {"days": _("利用者数(日別)"), "weeks": _("利用者数(週別)"), "months": _("利用者数(月別)")}[board.period]
    return {
        "flow": charts.build("chart-flow", _("登録者の推移"), "columns", labels, shorts,
                             [(_("新規登録"), board.flow.new), (_("年度更新"), board.flow.renewed),
                              (_("期限切れ"), board.flow.expired)]),
        "access": charts.build("chart-access", _("ページ閲覧数とログイン数"), "line", labels, shorts,
                               [(_("ページ閲覧数"), board.access.views), (_("ログイン数"), board.access.logins)]),
        "active": charts.build("chart-active", active, "columns", labels, shorts, [(active, board.access.active)]),
        "mail": charts.build("chart-mail", _("メールの送信と不達"), "columns", labels, shorts,
                             [(_("送信"), board.mail.sent), (_("不達"), board.mail.bounced),
                              (_("送信失敗"), board.mail.failed)]),
    }


@bp.get("/")
@requires(Permission.VIEW)
def dashboard() -> Any:
    form = forms.PeriodForm(request.args)
    period = form.period.data if form.validate() and form.period.data else services.DEFAULT_PERIOD
    if form.errors:
        flash(_("期間の指定が正しくないため、直近30日で表示しています。"), "error")
        log.info("analytics period refused: %s", sorted(form.errors))
    summarised = rollup(db.session, limit=DASHBOARD_MAX_DAYS)
    board = services.dashboard(db.session, period)
    audit.record(db.session, current_user, "analytics.view", "analytics:dashboard",
                 {"period": period, "summarised_days": len(summarised.done)}, client_ip())
    db.session.commit()
    today = tokyo_today()
    return render("analytics/dashboard.html", [(CRUMB, None)], form=form, board=board, charts=_charts(board),
                  month_form=forms.MonthlyReportForm(today, formdata=None),
                  year_form=forms.FiscalYearReportForm(today, formdata=None), periods=services.PERIODS)


def _download(period: report.ReportPeriod) -> Response:
    produced = report.produce(db.session, period, current_user, client_ip())
    response = send_file(produced.writer.rewound(), mimetype=report.XLSX_MIMETYPE, as_attachment=True,
                         download_name=produced.filename, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(exc: Exception, what: str) -> Any:
    flash(str(exc), "error")
    log.info("%s report refused: %s", what, type(exc).__name__)
    return redirect(url_for(".dashboard"))


@bp.get("/reports/monthly.xlsx")
@requires(Permission.VIEW)
def monthly_report() -> Any:
    try:
        month = report.parse_month(request.args.get("month", ""))
    except report.ReportInputError as exc:
        return _refused(exc, "monthly")
    return _download(report.monthly_period(month))


@bp.get("/reports/fiscal-year.xlsx")
@requires(Permission.VIEW)
def fiscal_year_report() -> Any:
    try:
        year = report.parse_fiscal_year(request.args.get("year", ""))
    except report.ReportInputError as exc:
        return _refused(exc, "fiscal-year")
    return _download(report.fiscal_year_period(year))
