"""Forms of the article screens. Date-times are typed in Tokyo time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, IntegerField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.articles.services import BODY_MAX, DRAFT, PUBLISHED, SCHEDULED, SUMMARY_MAX, TITLE_MAX
from app.core.forms import BaseForm, strip_filter

REQUIRED = _l("入力してください。")
IMAGE_ACCEPT = ".png,.jpg,.jpeg,.gif,.webp,image/png,image/jpeg,image/gif,image/webp"


def _plausible(form: Any, field: Any) -> None:
    if field.data and not datetime(2000, 1, 1) <= field.data <= datetime(2999, 12, 31):
        raise ValidationError(_l("日時を確認してください。"))


def _category_id(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return -1  # not a choice: refused by the choice check with its message


class ArticleForm(BaseForm):
    title = StringField(_l("見出し"), filters=[strip_filter],
                        validators=[DataRequired(REQUIRED), Length(max=TITLE_MAX)])
    summary = StringField(_l("要約(一覧に表示)"), filters=[strip_filter], validators=[Optional(), Length(max=SUMMARY_MAX)])
    category = SelectField(_l("分類"), coerce=_category_id, default=0, validate_choice=True)
    body_markdown = TextAreaField(_l("本文(Markdown)"), validators=[DataRequired(REQUIRED), Length(max=BODY_MAX)],
                                  render_kw={"rows": 18})
    publication = RadioField(_l("公開"), default=DRAFT, choices=[
        (DRAFT, _l("下書きとして保存(登録者には見えません)")),
        (PUBLISHED, _l("公開する(公開中の記事は公開日時をそのまま保ちます)")),
        (SCHEDULED, _l("日時を指定して公開(予約)")),
    ])
    publish_at = DateTimeLocalField(_l("公開日時"), format="%Y-%m-%dT%H:%M", validators=[Optional(), _plausible])
    preview = SubmitField(_l("プレビュー"))
    submit = SubmitField(_l("保存"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if self.publication.data == SCHEDULED and not self.publish_at.data and not self.publish_at.errors:
            self.publish_at.errors = [*self.publish_at.errors, str(_l("予約する公開日時を入力してください。"))]
            ok = False
        return ok


class ImageUploadForm(BaseForm):
    image = FileField(_l("画像ファイル"), render_kw={"accept": IMAGE_ACCEPT})
    upload = SubmitField(_l("画像をアップロード"))


class ArticleFilterForm(BaseForm):
    """The staff list's state filter (GET)."""

    class Meta:
        csrf = False

    state = SelectField(_l("状態"), default="", validate_choice=True)
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class PortalFilterForm(BaseForm):
    """The registrant list's category filter (GET)."""

    class Meta:
        csrf = False

    category = SelectField(_l("分類"), coerce=_category_id, default=0, validate_choice=True)
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])
