"""Forms of the CSV import: the upload, the choice of a saved column mapping, the mapping editor."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.core.forms import BaseForm, strip_filter
from app.imports.models import ImportMapping
from app.imports.services import target_choices

AUTO = ""


def _mapping_choices(mappings: list[ImportMapping], auto: bool) -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [(AUTO, _l("自動(列名から判定)"))] if auto else []
    return choices + [(str(m.id), m.name) for m in mappings]


class UploadForm(BaseForm):
    file = FileField(_l("CSVファイル"), validators=[FileRequired(_l("ファイルを選択してください。"))],
                     render_kw={"accept": ".csv,.txt,.tsv,text/csv,text/plain"})
    mapping = SelectField(_l("列の対応"), validate_choice=True)
    submit = SubmitField(_l("アップロードして内容を確認"))

    def __init__(self, mappings: list[ImportMapping], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mapping.choices = _mapping_choices(mappings, auto=True)


class UseMappingForm(BaseForm):
    mapping = SelectField(_l("保存済みの列の対応"), validate_choice=True)
    submit = SubmitField(_l("この対応で確認し直す"))

    def __init__(self, mappings: list[ImportMapping], current: int | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mapping.choices = _mapping_choices(mappings, auto=False)
        if not self.is_submitted() and current is not None:
            self.mapping.data = str(current)


class ActionForm(BaseForm):
    """A bare form for POST buttons (commit, discard): carries only the CSRF token."""


class MappingEditorBase(BaseForm):
    name = StringField(_l("名称(申請様式の版)"), filters=[strip_filter],
                       validators=[DataRequired(_l("入力してください。")), Length(max=100)])
    submit = SubmitField(_l("保存してこの対応で確認"))


def mapping_editor(headers: list[str], current: dict[str, str], name: str) -> Any:
    """The editor for one file's headers: a select per non-blank header, pre-set from `current` ({header: target}).

    Fields are named col_0, col_1, ... after the header's position; `form.header_fields` pairs each
    field with its header.
    """
    choices = [("", _l("(取り込まない)")), *target_choices()]
    attrs: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    for index, header in enumerate(headers):
        if not header.strip():
            continue
        attrs[f"col_{index}"] = SelectField(header, choices=choices, default=current.get(header, ""),
                                            validate_choice=True)
        pairs.append((f"col_{index}", header))
    form_class = type("MappingEditorForm", (MappingEditorBase,), attrs)
    form = form_class(data={"name": name})
    form.header_fields = [(form[field_name], header) for field_name, header in pairs]
    return form
