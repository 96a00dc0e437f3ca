"""Staff screens for registration intake (/admin/registrations): self-registrations awaiting approval,
withdrawal requests, referral QR codes, and invitations to register by mail.

Viewing needs Permission.VIEW; every change needs Permission.EDIT and is audited.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.extensions import db
from app.registrants import forms, signup
from app.registrants.models import ReferralCode, Registrant
from app.staff.models import Permission

bp = staff_blueprint("registrant_admin", __name__, "/admin/registrations")
HOME = (_l("登録受付"), "registrant_admin.index")
MODE_TEXT = {"off": _l("無効(電子申請システム・一括登録のみ)"), "open": _l("公開(メール確認後すぐに有効)"),
             "approval": _l("承認制(メール確認後、事務局が承認)")}


def _home() -> tuple[Any, str]:
    return HOME[0], url_for(HOME[1])


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    pending = signup.awaiting_approval(db.session)
    withdrawals = signup.withdrawal_requests(db.session)
    audit.record(db.session, current_user, "registration.list", "registrant:*",
                 {"pending": len(pending), "withdrawal_requests": len(withdrawals)}, client_ip())
    db.session.commit()
    return render("registrations/index.html", [(HOME[0], None)], pending=pending, withdrawals=withdrawals,
                  unverified=signup.awaiting_verification_count(db.session),
                  referral_labels={code.id: code.label for code, _count in signup.list_referrals(db.session)},
                  mode_text=MODE_TEXT.get(signup.mode(settings()), ""), confirm=forms.ConfirmForm())


def _act(registrant_id: int, action: Any, done: str) -> Any:
    registrant = db.get_or_404(Registrant, registrant_id)
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    try:
        action(registrant)
    except signup.SignupError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(done, "info")
    return redirect(url_for(".index"))


@bp.post("/<int:registrant_id>/approve")
@requires(Permission.EDIT)
def approve(registrant_id: int) -> Any:
    return _act(registrant_id, lambda r: signup.approve(db.session, settings(), current_user, r, client_ip()),
                _("承認しました。パスワード設定の案内メールを送ります。"))


@bp.post("/<int:registrant_id>/reject")
@requires(Permission.EDIT)
def reject(registrant_id: int) -> Any:
    return _act(registrant_id, lambda r: signup.reject(db.session, current_user, r, client_ip()),
                _("登録を承認しませんでした(退会扱いで記録しました)。"))


@bp.post("/<int:registrant_id>/withdraw")
@requires(Permission.EDIT)
def complete_withdrawal(registrant_id: int) -> Any:
    return _act(registrant_id, lambda r: signup.complete_withdrawal(db.session, current_user, r, client_ip()),
                _("退会の手続きをしました。完了のお知らせメールを送ります。"))


# --- invitations to register ---------------------------------------------------------------------------

@bp.route("/invite", methods=["GET", "POST"])
@requires(Permission.EDIT)
def invite() -> Any:
    form = forms.InviteForm()
    if form.validate_on_submit():
        try:
            signup.invite_to_register(db.session, settings(), current_user, form.email.data, client_ip())
        except signup.SignupError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(_("登録の案内メールを送信待ちにしました。"), "info")
            return redirect(url_for(".invite"))
    return render("registrations/invite.html", [_home(), (_l("登録の案内を送る"), None)], form=form,
                  is_open=signup.is_open(settings()))


# --- referral QR codes ---------------------------------------------------------------------------------------

@bp.get("/referrals")
@requires(Permission.VIEW)
def referrals() -> Any:
    return _referrals_page(forms.ReferralForm())


@bp.post("/referrals")
@requires(Permission.EDIT)
def create_referral() -> Any:
    form = forms.ReferralForm()
    if not form.validate_on_submit():
        return _referrals_page(form)
    signup.create_referral(db.session, current_user, form.label.data, form.medium.data, client_ip())
    flash(_("QRコードを作成しました。"), "info")
    return redirect(url_for(".referrals"))


def _referrals_page(form: forms.ReferralForm) -> Any:
    return render("registrations/referrals.html", [_home(), (_l("登録用QRコード"), None)], form=form,
                  rows=signup.list_referrals(db.session), confirm=forms.ConfirmForm(),
                  medium_labels=forms.MEDIUM_LABELS, url_of=lambda code: signup.referral_url(settings(), code),
                  is_open=signup.is_open(settings()))


@bp.post("/referrals/<int:referral_id>/deactivate")
@requires(Permission.EDIT)
def deactivate_referral(referral_id: int) -> Any:
    code = db.get_or_404(ReferralCode, referral_id)
    if not forms.ConfirmForm().validate_on_submit():
        abort(400)
    signup.deactivate_referral(db.session, current_user, code, client_ip())
    flash(_("QRコードを無効にしました。"), "info")
    return redirect(url_for(".referrals"))


@bp.get("/referrals/<int:referral_id>/qr.png")
@requires(Permission.VIEW)
def referral_png(referral_id: int) -> Any:
    return _qr(referral_id, "png", "image/png")


@bp.get("/referrals/<int:referral_id>/qr.svg")
@requires(Permission.VIEW)
def referral_svg(referral_id: int) -> Any:
    return _qr(referral_id, "svg", "image/svg+xml")


def _qr(referral_id: int, kind: str, mimetype: str) -> Response:
    code = db.get_or_404(ReferralCode, referral_id)
    response = Response(signup.qr_image(settings(), code, kind), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="tsunagu-qr-{code.id}.{kind}"'
    return response
