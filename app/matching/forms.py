"""Forms of the match list, the pipeline and the score weights."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.core.forms import BaseForm, strip_filter
from app.matching.pipeline import STAGE_LABELS
from app.matching.scoring import WEIGHTS

NOTE_MAX = 500


class PointsField(IntegerField):
    """An integer field whose "not a number" message is in Japanese like every other message."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError:
            self.data = None
            raise ValueError(str(_l("整数で入力してください。"))) from None


class PageForm(BaseForm):
    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class ActionForm(BaseForm):
    """CSRF only: propose (with repeated registrant_id fields), fill the posting, reset the weights."""


class StageForm(BaseForm):
    registrant_id = HiddenField(validators=[DataRequired()])
    stage = SelectField(_l("段階"), choices=[(key, label) for key, label in STAGE_LABELS.items()],
                        validate_choice=False,  # pipeline.set_stage refuses an unknown stage with its own message
                        validators=[DataRequired(_l("選択してください。"))])
    note = StringField(_l("メモ"), filters=[strip_filter], validators=[Optional(), Length(max=NOTE_MAX)])


def weights_form(formdata: Any = None, data: dict[str, int] | None = None) -> BaseForm:
    """One integer field per weight, each refused outside its range with a field message."""

    class WeightsForm(BaseForm):
        pass

    for key, weight in WEIGHTS.items():
        message = _l("%(min)d から %(max)d の整数を入力してください。", min=weight.minimum, max=weight.maximum)
        setattr(WeightsForm, key, PointsField(
            weight.label, description=_l("初期値 %(default)d(%(min)d〜%(max)d)", default=weight.default,
                                         min=weight.minimum, max=weight.maximum),
            validators=[InputRequired(message), NumberRange(min=weight.minimum, max=weight.maximum, message=message)]))
    return WeightsForm(formdata=formdata, data=data)
