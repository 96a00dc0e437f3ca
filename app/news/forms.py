"""Forms of the news and video screens. Date-times are typed in Tokyo time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter
from app.news.services import BODY_MAX, youtube_id

REQUIRED = _l("入力してください。")
BAD_YOUTUBE = _l("YouTubeの動画のURLを入力してください(例: https://www.youtube.com/watch?v=… または https://youtu.be/…)。")


def _plausible(form: Any, field: Any) -> None:
    if field.data and not datetime(2000, 1, 1) <= field.data <= datetime(2999, 12, 31):
        raise ValidationError(_l("日時を確認してください。"))


class NewsForm(BaseForm):
    title = StringField(_l("見出し"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=200)])
    body = TextAreaField(_l("本文"), validators=[DataRequired(REQUIRED), Length(max=BODY_MAX)])
    publish_from = DateTimeLocalField(_l("掲載開始日時"), format="%Y-%m-%dT%H:%M",
                                      validators=[DataRequired(_l("日時を入力してください。")), _plausible])
    publish_until = DateTimeLocalField(_l("掲載終了日時"), format="%Y-%m-%dT%H:%M", validators=[Optional(), _plausible])
    preview = SubmitField(_l("プレビュー"))
    submit = SubmitField(_l("保存"))

    def validate_publish_until(self, field: Any) -> None:
        if field.data and self.publish_from.data and field.data <= self.publish_from.data:
            raise ValidationError(_l("掲載終了日時は掲載開始日時より後にしてください。"))


class VideoForm(BaseForm):
    title = StringField(_l("動画のタイトル"), filters=[strip_filter],
                        validators=[DataRequired(REQUIRED), Length(max=200)])
    url = StringField(_l("YouTubeのURL"), filters=[strip_filter], validators=[DataRequired(REQUIRED), Length(max=500)])
    description = TextAreaField(_l("説明"), filters=[strip_filter], validators=[Optional(), Length(max=500)])
    is_published = BooleanField(_l("登録者のトップページに表示する"), default=True)
    submit = SubmitField(_l("保存"))

    def validate_url(self, field: Any) -> None:
        if field.data and youtube_id(field.data) is None:
            raise ValidationError(BAD_YOUTUBE)
