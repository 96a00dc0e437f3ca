"""Open job postings shown to registrants in the portal (S-A12), when the setting allows it.

Only logged-in registrants see them (a school's staffing needs are shared with the network, not the
whole internet); with `portal_show_postings` off every page here is 404, for everyone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from app.auth.web import registrant_required, settings
from app.core.forms import BaseForm
from app.extensions import db
from app.postings import services
from app.postings.models import PostingCodeRole

bp = Blueprint("portal_postings", __name__, url_prefix="/postings")


class PageForm(BaseForm):
    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


@bp.before_request
def _only_when_enabled() -> None:
    if not settings().portal_show_postings:
        abort(404)


@bp.get("/")
@registrant_required
def index() -> Any:
    form = PageForm(request.args)
    page = form.page.data if form.validate() and form.page.data else 1
    return render_template("postings/portal_list.html", result=services.portal_postings(db.session, page),
                           period_text=services.period_text)


@bp.get("/<int:posting_id>")
@registrant_required
def detail(posting_id: int) -> Any:
    posting = services.portal_posting(db.session, posting_id)
    if posting is None:
        abort(404)
    return render_template("postings/portal_detail.html", posting=posting, roles=PostingCodeRole,
                           codes=services.posting_codes(db.session, posting), period_text=services.period_text)
