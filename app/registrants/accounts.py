"""Registrant accounts by mail: the invitation to set a first password, and password reset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.auth import tokens
from app.mail.services import enqueue
from app.registrants.models import Registrant

INVITE_PATH = "/account/setup/"
RESET_PATH = "/account/reset/"


def send_invitation(session: Session, settings: Any, registrant: Registrant, *, new_account: bool = False) -> None:
    """Queue the invitation mail with a one-time link to set a password (in the caller's transaction).

    `new_account=True` when the registrant was created in this transaction (sync, import): no earlier link to revoke.
    """
    token = tokens.issue(session, registrant, tokens.Purpose.INVITE, timedelta(hours=settings.invitation_valid_hours),
                         new_account=new_account)
    link = settings.public_url(INVITE_PATH + token)
    body = str(_l(
        "%(name)s 様\n\n"
        "つなぐへのご登録ありがとうございます。\n"
        "次のリンクからパスワードを設定すると、ご自身の登録情報の確認や、お知らせの受信ができるようになります。\n\n"
        "%(link)s\n\n"
        "このリンクは%(hours)d時間有効で、1回だけ使えます。期限が切れた場合は、ログイン画面の"
        "「パスワードを忘れた方」から設定できます。\n"
        "お心当たりのない場合は、このメールを破棄してください。\n",
        name=registrant.full_name, link=link, hours=settings.invitation_valid_hours))
    enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】パスワード設定のご案内")), body=body,
            category="invitation", registrant_id=registrant.id)


def send_password_reset(session: Session, settings: Any, registrant: Registrant) -> None:
    token = tokens.issue(session, registrant, tokens.Purpose.RESET, timedelta(minutes=settings.reset_valid_minutes))
    link = settings.public_url(RESET_PATH + token)
    body = str(_l(
        "%(name)s 様\n\n"
        "パスワード再設定の依頼を受け付けました。次のリンクから新しいパスワードを設定してください。\n\n"
        "%(link)s\n\n"
        "このリンクは%(minutes)d分間有効で、1回だけ使えます。\n"
        "お心当たりのない場合は、このメールを破棄してください。パスワードは変更されません。\n",
        name=registrant.full_name, link=link, minutes=settings.reset_valid_minutes))
    enqueue(session, to=registrant.email, subject=str(_l("【つなぐ】パスワード再設定のご案内")), body=body,
            category="password_reset", registrant_id=registrant.id)
