"""Forms of the staff registration screens: referral QR codes and invitations to register."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from app.core.forms import BaseForm, strip_filter

MEDIUM_CHOICES = [("pamphlet", _l("パンフレット")), ("poster", _l("ポスター")), ("event", _l("イベント")),
                  ("web", _l("ウェブサイト")), ("other", _l("その他"))]
MEDIUM_LABELS = dict(MEDIUM_CHOICES)


class ReferralForm(BaseForm):
    label = StringField(_l("名称"), filters=[strip_filter],
                        validators=[DataRequired(_l("入力してください。")), Length(max=100)])
    medium = SelectField(_l("媒体"), choices=MEDIUM_CHOICES, validators=[DataRequired()])


class InviteForm(BaseForm):
    email = StringField(_l("送信先のメールアドレス"), filters=[strip_filter], validators=[
        DataRequired(_l("入力してください。")), Length(max=254),
        Email(_l("メールアドレスの形式が正しくありません。"), check_deliverability=False)])


class ConfirmForm(BaseForm):
    """Only the CSRF token (approve, reject, deactivate buttons)."""
