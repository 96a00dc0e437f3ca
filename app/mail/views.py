"""The mail screens for staff (/admin/mail): the outbox, the send history, bounces and suppressions,
and (in the demo) the mail the local catcher received.

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
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
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
from app.mail import catcher, compose
from app.mail.forms import ActionForm, RecipientPageForm
from app.mail.models import CampaignStatus, MailCampaign, MailSuppression, OutboxMessage, OutboxStatus
from app.portal.links import redact
from app.staff.models import Permission

bp = staff_blueprint("mail_admin", __name__, "/admin/mail")
PER_PAGE = 50
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
STATUS_TEXT = {"pending": _l("送信待ち"), "sending": _l("送信中"), "sent": _l("送信済"), "failed": _l("送信失敗")}
CAMPAIGN_STATUS_TEXT = {"scheduled": _l("予約"), "queued": _l("送信受付"), "cancelled": _l("取消")}
SUPPRESSION_TEXT = {"hard_bounce": _l("恒久的な不達"), "unsubscribe": _l("配信停止")}
HISTORY_CRUMB = _l("メール送信履歴")
CATEGORY_TEXT = {"invitation": _l("パスワード設定の案内"), "password_reset": _l("パスワード再設定"),
                 "verification": _l("メールアドレスの確認"), "already_registered": _l("登録済みのお知らせ"),
                 "registration_invite": _l("登録の案内"), "withdrawal_request": _l("退会申し出の受付"),
                 "withdrawal_done": _l("退会完了"), "renewal_reminder": _l("年度更新の依頼"),
                 "campaign": _l("職員が作成したメール"), "campaign_test": _l("テスト送信"),
                 "posting_notice": _l("新着求人のお知らせ")}


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


@bp.app_template_filter("campaign_status_text")
def _campaign_status_text(status: str) -> str:
    return str(CAMPAIGN_STATUS_TEXT.get(status, status))


@bp.app_context_processor
def _mail_tabs() -> dict[str, Any]:
    return {"mail_catch_enabled": bool(settings().mail_catch_dir)}


# --- send history ---------------------------------------------------------------------------------------

@bp.get("/campaigns")
@requires(Permission.VIEW)
def campaigns() -> Any:
    form = RecipientPageForm(request.args)
    page = form.page.data if form.validate() and form.page.data else 1
    result = paginate(db.session, sa.select(MailCampaign).order_by(MailCampaign.created_at.desc(),
                                                                   MailCampaign.id.desc()), page, PER_PAGE)
    counts = compose.campaign_counts(db.session, [c.id for c in result.items])
    return render("mail/campaigns.html", [(HISTORY_CRUMB, None)], result=result, counts=counts, args={})


@bp.get("/campaigns/<int:campaign_id>")
@requires(Permission.VIEW)
def campaign(campaign_id: int) -> Any:
    entry = db.get_or_404(MailCampaign, campaign_id)
    form = RecipientPageForm(request.args)
    form.status.choices = [("", _l("すべて")), *((s.value, STATUS_TEXT[s.value]) for s in OutboxStatus),
                           ("bounced", _l("不達"))]
    page, status = 1, ""
    if form.validate():
        page, status = form.page.data or 1, form.status.data or ""
    stmt = sa.select(OutboxMessage).where(OutboxMessage.campaign_id == entry.id)
    if status == "bounced":
        stmt = stmt.where(OutboxMessage.bounced_at.is_not(None))
    elif status in STATUS_TEXT:
        stmt = stmt.where(OutboxMessage.status == status)
    result = paginate(db.session, stmt.order_by(OutboxMessage.id), page, 100)
    counts = compose.campaign_counts(db.session, [entry.id])[entry.id]
    audit.record(db.session, current_user, "mail.campaign_view", f"mail_campaign:{entry.id}",
                 {"page": page, "shown": len(result.items)}, client_ip())
    db.session.commit()
    cancellable = entry.status != CampaignStatus.CANCELLED.value and counts["pending"] > 0
    return render("mail/campaign.html", [(HISTORY_CRUMB, url_for(".campaigns")), (entry.subject_template, None)],
                  campaign=entry, result=result, counts=counts, form=form, cancellable=cancellable,
                  action_form=ActionForm(), args={"status": status} if status else {})


@bp.post("/campaigns/<int:campaign_id>/cancel")
@requires(Permission.EDIT)
def campaign_cancel(campaign_id: int) -> Any:
    entry = db.get_or_404(MailCampaign, campaign_id)
    if ActionForm().validate_on_submit() and entry.status != CampaignStatus.CANCELLED.value:
        removed = compose.cancel_campaign(db.session, current_user, entry, client_ip())
        db.session.commit()
        flash(_("送信を取り消しました。未送信の %(n)d 件は送信されません(送信済みのものは取り消せません)。", n=removed),
              "info")
    return redirect(url_for(".campaign", campaign_id=entry.id))


# --- bounces and suppressions -----------------------------------------------------------------------------

@bp.get("/suppressions")
@requires(Permission.VIEW)
def suppressions() -> Any:
    form = RecipientPageForm(request.args)
    page = form.page.data if form.validate() and form.page.data else 1
    result = paginate(db.session, sa.select(MailSuppression).order_by(MailSuppression.created_at.desc(),
                                                                      MailSuppression.id.desc()), page, PER_PAGE)
    bounces = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.bounced_at.is_not(None))
                                 .order_by(OutboxMessage.bounced_at.desc()).limit(PER_PAGE)).all()
    audit.record(db.session, current_user, "mail.suppression_list", "mail_suppression:*",
                 {"page": page, "shown": len(result.items), "bounces": len(bounces)}, client_ip())
    db.session.commit()
    return render("mail/suppressions.html", [(_l("メール送信状況"), url_for(".index")), (_l("不達・送信停止"), None)],
                  result=result, bounces=bounces, reasons=SUPPRESSION_TEXT, action_form=ActionForm(), args={})


@bp.post("/suppressions/<int:suppression_id>/lift")
@requires(Permission.EDIT)
def suppression_lift(suppression_id: int) -> Any:
    suppression = db.get_or_404(MailSuppression, suppression_id)
    if ActionForm().validate_on_submit():
        compose.lift_suppression(db.session, current_user, suppression, client_ip())
        db.session.commit()
        flash(_("送信停止を解除しました。このアドレスに再びメールが送られます。"), "info")
    return redirect(url_for(".suppressions"))


# --- the demo catcher ---------------------------------------------------------------------------------------

def _catch_dir() -> str:
    directory = settings().mail_catch_dir
    if not directory:
        abort(404)
    return str(directory)


@bp.get("/caught")
@requires(Permission.VIEW)
def caught() -> Any:
    return render("mail/caught_list.html", [(_l("受信したメール(デモ)"), None)],
                  mails=catcher.list_caught(_catch_dir()), limit=catcher.LIST_LIMIT)


@bp.get("/caught/view")
@requires(Permission.VIEW)
def caught_view() -> Any:
    found = catcher.read_caught(_catch_dir(), request.args.get("name", ""))
    if found is None:
        abort(404)
    headers, body = found
    subject = next((value for key, value in headers if key.lower() == "subject"), "")
    return render("mail/caught.html", [(_l("受信したメール(デモ)"), url_for(".caught")), (subject or "-", None)],
                  headers=headers, body=body, subject=subject)
