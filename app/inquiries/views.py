"""Staff screens for inquiries: the list and replies."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.auth.web import client_ip, requires, settings
from app.correspondence.models import Correspondence
from app.extensions import db
from app.inquiries import forms, services
from app.inquiries.models import Inquiry, InquiryStatus
from app.registrants.models import Registrant
from app.staff.models import Permission

log = logging.getLogger("tsunagu.inquiries")
bp = staff_blueprint("inquiries_admin", __name__, "/admin/inquiries")
LIST_CRUMB = _l("問い合わせ")


@bp.app_template_global("inquiry_links")
def inquiry_links(entries: Any) -> dict[int, int]:
    """{correspondence id: inquiry id} for the given correspondence rows (one query), for reply links."""
    return services.inquiry_ids_for(db.session, [entry.id for entry in entries])


@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.InquiryFilterForm(request.args)
    status, page = None, 1
    if form.validate():
        status, page = form.status.data or None, form.page.data or 1
    result = services.search(db.session, status, page)
    audit.record(db.session, current_user, "inquiry.list", "inquiry:*",
                 {"status": status, "page": page, "shown": len(result.items)}, client_ip())
    db.session.commit()
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render("inquiries/admin_list.html", [(LIST_CRUMB, None)], form=form, result=result, args=args,
                  counts=services.status_counts(db.session), status_labels=services.STATUS_LABELS)


@bp.get("/<int:inquiry_id>")
@requires(Permission.VIEW)
def detail(inquiry_id: int) -> Any:
    inquiry = db.get_or_404(Inquiry, inquiry_id)
    form = forms.ReplyForm(formdata=None)
    asked = db.session.get(Correspondence, inquiry.correspondence_id) if inquiry.correspondence_id else None
    form.subject.data = services.default_reply_subject(asked)
    return _detail_page(inquiry, asked, form)


def _detail_page(inquiry: Inquiry, asked: Correspondence | None, form: forms.ReplyForm, status: int = 200) -> Any:
    registrant = db.session.get(Registrant, inquiry.registrant_id)
    answer = (db.session.get(Correspondence, inquiry.reply_correspondence_id)
              if inquiry.reply_correspondence_id else None)
    audit.record(db.session, current_user, "inquiry.view", f"inquiry:{inquiry.id}", {}, client_ip())
    db.session.commit()
    title = asked.subject if asked else _("問い合わせ %(id)d", id=inquiry.id)
    return render("inquiries/admin_detail.html", [(LIST_CRUMB, url_for(".index")), (title, None)],
                  inquiry=inquiry, asked=asked, answer=answer, registrant=registrant, form=form,
                  confirm=ConfirmForm(), status_labels=services.STATUS_LABELS, statuses=InquiryStatus), status


@bp.post("/<int:inquiry_id>/reply")
@requires(Permission.EDIT)
def reply(inquiry_id: int) -> Any:
    inquiry = db.get_or_404(Inquiry, inquiry_id)
    form = forms.ReplyForm()
    asked = db.session.get(Correspondence, inquiry.correspondence_id) if inquiry.correspondence_id else None
    if not form.validate_on_submit():
        log.info("inquiry reply refused: %s (staff=%s)", sorted(form.errors), current_user.id)
        return _detail_page(inquiry, asked, form, 400)
    try:
        _entry, mailed = services.reply(db.session, settings(), current_user, inquiry, form.subject.data,
                                        form.body.data.replace("\r\n", "\n"), client_ip())
    except services.InquiryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _detail_page(inquiry, asked, form, 400)
    db.session.commit()
    flash(_("回答を送信し、対応履歴に記録しました。") if mailed else
          _("回答を対応履歴と受信箱に記録しました。このメールアドレスは配信停止のため、メールは送っていません。"), "info")
    return redirect(url_for(".detail", inquiry_id=inquiry.id))


@bp.post("/<int:inquiry_id>/close")
@requires(Permission.EDIT)
def close(inquiry_id: int) -> Any:
    return _change(inquiry_id, services.close, _("問い合わせを完了にしました。"))


@bp.post("/<int:inquiry_id>/reopen")
@requires(Permission.EDIT)
def reopen(inquiry_id: int) -> Any:
    return _change(inquiry_id, services.reopen, _("問い合わせを対応中に戻しました。"))


def _change(inquiry_id: int, action: Any, done: str) -> Any:
    inquiry = db.get_or_404(Inquiry, inquiry_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action(db.session, current_user, inquiry, client_ip())
    except services.InquiryError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".detail", inquiry_id=inquiry.id))
    db.session.commit()
    flash(done, "info")
    return redirect(url_for(".detail", inquiry_id=inquiry.id))
