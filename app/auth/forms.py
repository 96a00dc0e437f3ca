"""Login and password forms, shared by the staff and registrant login pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from app.core.forms import BaseForm, strip_filter


class LoginForm(BaseForm):
    email = StringField(_l("メールアドレス"), filters=[strip_filter],
                        validators=[DataRequired(_l("入力してください。")), Length(max=254)])
    password = PasswordField(_l("パスワード"), validators=[DataRequired(_l("入力してください。")), Length(max=128)])
    submit = SubmitField(_l("ログイン"))


class PasswordChangeForm(BaseForm):
    current_password = PasswordField(_l("現在のパスワード"),
                                     validators=[DataRequired(_l("入力してください。")), Length(max=128)])
    new_password = PasswordField(_l("新しいパスワード"),
                                 validators=[DataRequired(_l("入力してください。")), Length(max=128)])
    confirm = PasswordField(_l("新しいパスワード(確認)"), validators=[
        DataRequired(_l("入力してください。")), EqualTo("new_password", _l("確認用のパスワードが一致しません。"))])
    submit = SubmitField(_l("パスワードを変更"))
