"""Forms of the sync admin pages."""

from __future__ import annotations

from wtforms import BooleanField, HiddenField, IntegerField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.core.forms import BaseForm


class HistoryForm(BaseForm):
    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=100000)])


class QuarantineFilterForm(BaseForm):
    class Meta:
        csrf = False

    resolved = BooleanField()


class CandidateForm(BaseForm):
    """Merge or dismiss one duplicate candidate (the id travels in the body, not the URL)."""

    candidate_id = HiddenField(validators=[DataRequired()])

    def candidate(self) -> int | None:
        value = (self.candidate_id.data or "").strip()
        return int(value) if value.isdigit() and len(value) < 12 else None
