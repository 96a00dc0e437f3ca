"""Forms of the event screens. Date-times are typed in Tokyo time (datetime-local inputs)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.core.forms import BaseForm, strip_filter
from app.events.services import CAPACITY_MAX, DESCRIPTION_MAX, PLACE_MAX, TITLE_MAX, URL_MAX

REQUIRED = _l("入力してください。")


def _plausible(form: Any, field: Any) -> None:
    if field.data and not datetime(2000, 1, 1) <= field.data <= datetime(2999, 12, 31):
        raise ValidationError(_l("日時を確認してください。"))


def _halfwidth(value: Any) -> Any:
    """「３０」 typed with a Japanese input method counts as 30."""
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _https_only(form: Any, field: Any) -> None:
    if not field.data:
        return
    parts = urlsplit(field.data)
    if parts.scheme.lower() != "https" or not parts.hostname or any(c.isspace() for c in field.data):
        raise ValidationError(_l("https:// で始まるURLを入力してください。"))


class EventForm(BaseForm):
    title = StringField(_l("イベント名"), filters=[strip_filter],
                        validators=[DataRequired(REQUIRED), Length(max=TITLE_MAX)])
    description = TextAreaField(_l("説明"), validators=[DataRequired(REQUIRED), Length(max=DESCRIPTION_MAX)])
    starts_at = DateTimeLocalField(_l("開始日時"), format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired(_l("日時を入力してください。")), _plausible])
    ends_at = DateTimeLocalField(_l("終了日時"), format="%Y-%m-%dT%H:%M", validators=[Optional(), _plausible])
    place = StringField(_l("会場"), filters=[strip_filter], validators=[Optional(), Length(max=PLACE_MAX)])
    online_url = StringField(_l("オンライン参加のURL"), filters=[strip_filter],
                             validators=[Optional(), Length(max=URL_MAX), _https_only])
    capacity = StringField(_l("定員"), filters=[_halfwidth], validators=[Optional(), Length(max=6)])
    rsvp_closes_at = DateTimeLocalField(_l("申込の締切日時"), format="%Y-%m-%dT%H:%M",
                                        validators=[Optional(), _plausible])
    submit = SubmitField(_l("保存"))

    def validate_ends_at(self, field: Any) -> None:
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("終了日時は開始日時より後にしてください。"))

    def validate_rsvp_closes_at(self, field: Any) -> None:
        if field.data and self.starts_at.data and field.data > self.starts_at.data:
            raise ValidationError(_l("申込の締切は開始日時より前にしてください。"))

    def validate_capacity(self, field: Any) -> None:
        if field.data and not (field.data.isascii() and field.data.isdigit() and 1 <= int(field.data) <= CAPACITY_MAX):
            raise ValidationError(_l("定員は1以上の整数(半角数字)で入力してください。定員なしは空欄にします。"))

    @property
    def capacity_value(self) -> int | None:
        return int(self.capacity.data) if self.capacity.data else None

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        if not self.place.data and not self.online_url.data and not self.online_url.errors:
            self.place.errors = [*self.place.errors, _l("会場かオンライン参加のURLのどちらかを入力してください。")]
            ok = False
        return ok


class RsvpForm(BaseForm):
    """The registrant's buttons on an event page (only the CSRF token and which button)."""

    rsvp = SubmitField(_l("参加を申し込む"))
    cancel = SubmitField(_l("申込を取り消す"))
