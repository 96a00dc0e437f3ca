"""Staff page of the fiscal-year lifecycle (S5): figures, next reminders, the last run, and "run now"."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.auth.web import client_ip, requires, settings
from app.core.timeutil import fiscal_year, fiscal_year_end
from app.extensions import db
from app.lifecycle import services
from app.registrants.models import RegistrantStatus
from app.staff.models import Permission

bp = staff_blueprint("lifecycle_admin", __name__, "/admin/lifecycle")

# bar colours per status (SVG presentation attributes: the CSP allows no inline styles)
STATUS_COLOURS = {"active": "#1d6b3a", "expired": "#a15c00", "pending": "#4a5f8c", "withdrawn": "#6b6b6b",
                  "anonymised": "#b3b3b3"}
STATUS_ORDER = [status.value for status in RegistrantStatus]


@bp.get("/")
@requires(Permission.VIEW)
def overview() -> Any:
    today = services.today_in_tokyo()
    by_year = services.counts_by_fiscal_year(db.session)
    top = max((sum(counts.values()) for _year, counts in by_year), default=0)
    return render("lifecycle/admin.html", [(_l("年度更新"), None)],
                  today=today, fiscal=fiscal_year(today), fiscal_end=fiscal_year_end(today), by_year=by_year,
                  top=top, statuses=STATUS_ORDER, colours=STATUS_COLOURS,
                  upcoming=services.upcoming_reminders(db.session, settings(), today),
                  last=services.last_run(db.session), retention_days=settings().retention_days,
                  confirm=ConfirmForm())


@bp.post("/run")
@requires(Permission.ADMIN)
def run_now() -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = services.run_lifecycle(db.session, settings(), services.today_in_tokyo(), actor=current_user,
                                    client_ip=client_ip())
    flash(_("年度更新の処理を実行しました(更新案内 %(sent)d 件、期限切れ %(expired)d 件、匿名化 %(anonymised)d 件)。",
            sent=report.reminders_sent, expired=report.expired, anonymised=report.anonymised), "info")
    return redirect(url_for(".overview"))
