"""Composing mail to registrants: templates, preview, test send, scheduled send (S-A3).

The search page links here with ?registrant_id=… (one), ?saved_search_id=…, or its own criteria
args; a selection arrives as a POST of repeated registrant_id fields. A match list adds posting_id (a
GET arg or a hidden POST field): the mail is then about that posting (its merge fields, only registrants
who still fit it, and each recipient becomes a 「連絡済」 candidate). From then on the audience travels in
a hidden field and is resolved again (and re-checked) in SQL on every request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.core.timeutil import from_tokyo_input
from app.extensions import db
from app.mail import compose
from app.mail.compose import Audience, AudienceCounts, ComposeError
from app.mail.forms import ActionForm, ComposeForm, TemplateForm
from app.mail.models import MailTemplate
from app.staff.models import Permission

bp = staff_blueprint("mail_compose", __name__, "/admin/mail/compose")
log = logging.getLogger("tsunagu.mail")
COMPOSE_CRUMB = _l("メール作成")
TEMPLATES_CRUMB = _l("メールのひな形")



def _templates() -> list[MailTemplate]:
    return list(db.session.scalars(sa.select(MailTemplate).order_by(MailTemplate.name)))


def _audience_of_request(form: ComposeForm) -> Audience:
    if request.method == "POST" and "audience" in request.form:
        return Audience.from_json(form.audience.data or "")
    if request.method == "POST":  # a selection posted by the search page or a match list
        return Audience(registrant_ids=compose.ids_from(request.form.getlist("registrant_id")),
                        posting_id=compose.posting_id_from(request.form.get("posting_id")))
    return compose.audience_from_args(request.args)


@dataclass
class _Resolved:
    audience: Audience = field(default_factory=Audience)
    counts: AudienceCounts = field(default_factory=AudienceCounts)
    choices: list[tuple[int, str]] = field(default_factory=list)
    label: str = ""
    posting: Any = None


def _resolve(form: ComposeForm) -> _Resolved:
    """The audience, its counts, the recipients offered for preview, a label and the posting the mail is
    about (if any); errors are flashed."""
    try:
        audience = _audience_of_request(form)
        posting = audience.posting(db.session)
        if audience.empty:
            return _Resolved(audience, posting=posting)
        ids = audience.id_select(db.session, current_user)
        return _Resolved(audience, audience.counts(db.session, current_user), compose.preview_choices(db.session, ids),
                         audience.label(db.session, current_user), posting)
    except ComposeError as exc:
        log.info("mail compose: audience refused (%s)", exc)
        flash(str(exc), "error")
        return _Resolved()


@bp.route("/", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    submitted = request.method == "POST" and "audience" in request.form
    form = ComposeForm() if submitted else ComposeForm(formdata=None)
    templates = _templates()
    form.template.choices = [(0, _("(使わない)")), *((t.id, t.name) for t in templates)]
    resolved = _resolve(form)
    audience = resolved.audience
    form.audience.data = audience.to_json()
    form.preview_registrant.choices = resolved.choices
    if resolved.posting is not None and not submitted and not form.subject.data and not form.body.data:
        form.subject.data, form.body.data = compose.DEFAULT_POSTING_SUBJECT, compose.DEFAULT_POSTING_BODY
    shown, error = None, None
    if submitted and form.validate():
        try:
            result = _act(request.form.get("action", ""), form, audience, templates)
        except ComposeError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            if not isinstance(result, compose.Preview | None):
                return result
            shown = result
    elif submitted:
        error = _("入力内容を確認してください。")
    merge_fields = dict(compose.MERGE_FIELDS)
    if resolved.posting is not None:
        merge_fields.update(compose.POSTING_MERGE_FIELDS)
    return render("mail/compose.html", [(COMPOSE_CRUMB, None)], form=form, counts=resolved.counts, audience=audience,
                  audience_label=resolved.label, shown=shown, error=error, merge_fields=merge_fields,
                  has_templates=bool(templates), name_field="{{ 氏名 }}", posting=resolved.posting,
                  period_text=compose.period_text)


def _act(action: str, form: ComposeForm, audience: Audience, templates: list[MailTemplate]) -> Any:
    subject, body = form.subject.data or "", form.body.data or ""
    preview_id = form.preview_registrant.data or None
    if action == "load_template":
        chosen = next((t for t in templates if t.id == form.template.data), None)
        if chosen is None:
            raise ComposeError(_("読み込むひな形を選んでください。"))
        form.subject.data, form.body.data = chosen.subject, chosen.body
        flash(_("ひな形「%(name)s」を読み込みました。", name=chosen.name), "info")
        return None
    if action == "preview":
        return compose.preview(db.session, settings(), current_user, audience, subject, body, preview_id)
    if action == "test":
        shown = compose.preview(db.session, settings(), current_user, audience, subject, body, preview_id)
        compose.send_test(db.session, settings(), current_user, audience, subject, body, preview_id, client_ip())
        db.session.commit()
        flash(_("テスト送信を受け付けました。あなたのメールアドレス宛てに届きます。"), "info")
        return shown
    if action == "send":
        when = from_tokyo_input(form.scheduled_at.data) if form.scheduled_at.data else None
        campaign = compose.queue_campaign(db.session, settings(), current_user, audience, subject, body, when,
                                          client_ip())
        db.session.commit()
        if when:
            flash(_("%(n)d 人への送信を予約しました。", n=campaign.recipient_count), "info")
        else:
            flash(_("%(n)d 人への送信を受け付けました。順に送信されます。", n=campaign.recipient_count), "info")
        if audience.posting_id is not None:
            flash(_("宛先の登録者は、この求人の候補者(連絡済)になり、対応履歴に記録されました。"), "info")
        return redirect(url_for("mail_admin.campaign", campaign_id=campaign.id))
    raise ComposeError(_("操作を選んでください。"))


# --- templates -------------------------------------------------------------------------------------------

@bp.get("/templates")
@requires(Permission.VIEW)
def templates() -> Any:
    return render("mail/templates.html", [(COMPOSE_CRUMB, url_for(".new")), (TEMPLATES_CRUMB, None)],
                  templates=_templates(), action_form=ActionForm())


@bp.route("/templates/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def template_new() -> Any:
    return _template_form(None)


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def template_edit(template_id: int) -> Any:
    return _template_form(db.get_or_404(MailTemplate, template_id))


def _template_form(template: MailTemplate | None) -> Any:
    form = TemplateForm(obj=template)
    if form.validate_on_submit():
        try:
            compose.save_template(db.session, settings(), current_user, template, name=form.name.data,
                                  subject=form.subject.data, body=form.body.data, ip=client_ip())
        except ComposeError as exc:
            db.session.rollback()
            message = str(exc)
            target = form.name if "名前" in message else form.subject if message.startswith("件名") else form.body
            target.errors = [*target.errors, message]
        else:
            db.session.commit()
            flash(_("ひな形を保存しました。"), "info")
            return redirect(url_for(".templates"))
    title = _l("ひな形の編集") if template else _l("ひな形の作成")
    return render("mail/template_form.html", [(COMPOSE_CRUMB, url_for(".new")),
                                              (TEMPLATES_CRUMB, url_for(".templates")), (title, None)],
                  form=form, mail_template=template, title=title, merge_fields=compose.MERGE_FIELDS)


@bp.post("/templates/<int:template_id>/delete")
@requires(Permission.EDIT)
def template_delete(template_id: int) -> Any:
    template = db.get_or_404(MailTemplate, template_id)
    if ActionForm().validate_on_submit():
        compose.delete_template(db.session, current_user, template, client_ip())
        db.session.commit()
        flash(_("ひな形を削除しました。"), "info")
    return redirect(url_for(".templates"))
