"""The outbox for staff (/admin/mail): what was queued, sent, retried or given up, and why.

Who sees what:
* the list (status, category, subject, times, attempts, last error) needs Permission.VIEW, so any
  staff member can check whether a mail went out; recipient addresses are masked ("ha***@example.com")
  unless the viewer is an administrator;
* a message's body holds personal data, so the detail page needs Permission.ADMIN and is audited;
* one-time links in a body (invitation, reset, verification) are shown as "[redacted]": whoever
  reads them could take over the account. Only when the appliance's public URL is a loopback address
  (a local demo, which nobody else can reach) are they shown, so a demo can follow them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.core.forms import BaseForm
from app.core.pagination import paginate
from app.extensions import db
from app.mail.models import OutboxMessage, OutboxStatus
from app.portal.links import redact
from app.staff.models import Permission

bp = staff_blueprint("mail_admin", __name__, "/admin/mail")
PER_PAGE = 50
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
STATUS_TEXT = {"pending": _l("送信待ち"), "sending": _l("送信中"), "sent": _l("送信済"), "failed": _l("送信失敗")}
CATEGORY_TEXT = {"invitation": _l("パスワード設定の案内"), "password_reset": _l("パスワード再設定"),
                 "verification": _l("メールアドレスの確認"), "already_registered": _l("登録済みのお知らせ"),
                 "registration_invite": _l("登録の案内"), "withdrawal_request": _l("退会申し出の受付"),
                 "withdrawal_done": _l("退会完了"), "renewal_reminder": _l("年度更新の依頼")}


class OutboxFilterForm(BaseForm):
    class Meta:
        csrf = False

    status = SelectField(_l("状態"), validators=[Optional()],
                         choices=[("", _l("すべて")), *((s.value, STATUS_TEXT[s.value]) for s in OutboxStatus)])
    category = SelectField(_l("種類"), validators=[Optional()], validate_choice=False)
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


def mask_address(address: str) -> str:
    local, _at, domain = address.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


def links_visible() -> bool:
    return (urlsplit(settings().public_base_url).hostname or "") in LOOPBACK_HOSTS


@bp.app_template_filter("mail_status_text")
def _status_text(status: str) -> str:
    return str(STATUS_TEXT.get(status, status))


@bp.app_template_filter("mail_category_text")
def _category_text(category: str) -> str:
    return str(CATEGORY_TEXT.get(category, category))


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    categories = sorted(db.session.scalars(sa.select(OutboxMessage.category).distinct()))
    form = OutboxFilterForm(request.args)
    form.category.choices = [("", _l("すべて")), *((c, _category_text(c)) for c in categories)]
    status = category = ""
    page = 1
    if form.validate():
        status, category, page = form.status.data or "", form.category.data or "", form.page.data or 1
    stmt = sa.select(OutboxMessage)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if category:
        stmt = stmt.where(OutboxMessage.category == category)
    result = paginate(db.session, stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()), page,
                      PER_PAGE)
    counts = dict(db.session.execute(sa.select(OutboxMessage.status, sa.func.count())
                                     .group_by(OutboxMessage.status)).all())
    show_addresses = current_user.can(Permission.ADMIN)
    if show_addresses:
        audit.record(db.session, current_user, "mail.list", "outbox:*", {"page": page, "shown": len(result.items)},
                     client_ip())
        db.session.commit()
    args = {key: value for key, value in (("status", status), ("category", category)) if value}
    return render("mail/list.html", [(_l("メール送信状況"), None)], form=form, result=result, args=args,
                  counts=counts, show_addresses=show_addresses, mask=mask_address)


@bp.get("/<int:message_id>")
@requires(Permission.ADMIN)
def detail(message_id: int) -> Any:
    message = db.get_or_404(OutboxMessage, message_id)
    visible = links_visible()
    body = message.body_text if visible else redact(message.body_text)
    audit.record(db.session, current_user, "mail.view", f"outbox:{message.id}", {}, client_ip())
    db.session.commit()
    return render("mail/detail.html", [(_l("メール送信状況"), url_for(".index")), (message.subject, None)],
                  message=message, body=body, links_visible=visible, redacted=body != message.body_text)
