"""The base form every Tsunagu form derives from.

Werkzeug decodes request bodies as UTF-8: undecodable bytes become U+FFFD in
multipart bodies and stay percent-encoded ("%82%A0") in URL-encoded ones and
query strings. Rather than store such mangled text, every text field refuses it
(and control characters) with a message, so a user sending Shift_JIS or binary
junk sees what went wrong and nothing half-broken is saved.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_REQUOTED_BYTE = re.compile(r"%[89A-F][0-9A-F]")  # how Werkzeug hands back a non-UTF-8 byte it could not decode


def text_problem(value: str, *, secret: bool = False) -> str | None:
    """Why this text cannot be stored, or None. A secret may legitimately contain "%A0", so only U+FFFD counts."""
    if "\ufffd" in value or (not secret and _REQUOTED_BYTE.search(value)):
        return str(_l("文字コードを認識できない文字が含まれています。UTF-8で入力してください。"))
    if _CONTROL.search(value):
        return str(_l("使用できない制御文字が含まれています。"))
    return None


class BaseForm(FlaskForm):
    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        for field in self:
            if _is_text(field):
                problem = text_problem(field.data, secret=field.type == "PasswordField")
                if problem:
                    _add_error(field, problem)
                    ok = False
        return ok


def _is_text(field: Field) -> bool:
    return isinstance(field.data, str) and field.type not in {"CSRFTokenField", "HiddenField"}


def _add_error(field: Field, message: str) -> None:
    if isinstance(field.errors, tuple):
        field.errors = list(field.errors)
    field.errors.append(message)


def strip_filter(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value
