"""Forms of the staff-user screens and the own-account two-factor pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.core.forms import BaseForm, strip_filter
from app.staff.models import Role

REQUIRED = _l("入力してください。")
ROLE_CHOICES = [
    (Role.ADMINISTRATOR.value, _l("管理者(すべての操作)")),
    (Role.EDITOR.value, _l("更新可(登録者データの更新)")),
    (Role.VIEWER.value, _l("閲覧のみ")),
]


class StaffCreateForm(BaseForm):
    email = EmailField(_l("メールアドレス(ログインID)"), filters=[strip_filter], validators=[
        DataRequired(REQUIRED), Length(max=254)])
    display_name = StringField(_l("表示名"), filters=[strip_filter],
                               validators=[DataRequired(REQUIRED), Length(max=100)])
    role = SelectField(_l("権限"), choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(_l("初期パスワード"), validators=[DataRequired(REQUIRED), Length(max=128)])
    submit = SubmitField(_l("登録"))


class StaffEditForm(BaseForm):
    display_name = StringField(_l("表示名"), filters=[strip_filter],
                               validators=[DataRequired(REQUIRED), Length(max=100)])
    role = SelectField(_l("権限"), choices=ROLE_CHOICES, validators=[DataRequired()])
    submit = SubmitField(_l("保存"))


class StaffSearchForm(BaseForm):
    class Meta:
        csrf = False

    q = StringField(_l("メールアドレス・表示名"), filters=[strip_filter], validators=[Optional(), Length(max=100)])
    role = SelectField(_l("権限"), choices=[("", _l("すべて")), *ROLE_CHOICES], validators=[Optional()])
    state = SelectField(_l("状態"), choices=[("", _l("すべて")), ("enabled", _l("有効")), ("disabled", _l("無効"))],
                        validators=[Optional()])


class CodeForm(BaseForm):
    """A six-digit one-time code from the authenticator app."""

    code = StringField(_l("確認コード(6桁)"), filters=[strip_filter], render_kw={"inputmode": "numeric"},
                       validators=[DataRequired(REQUIRED), Length(max=16)])
    submit = SubmitField(_l("確認"))
