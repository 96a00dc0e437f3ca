"""Forms of the registrant search: saving a search, managing saved searches, exporting a list.

The search criteria themselves are a GET form whose parameters `services.criteria_from_args` parses
(it knows the negations and the code lists); these forms carry the current search as `query`, the
URL-encoded query string of the search page.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.core.forms import BaseForm, strip_filter

NAME_MAX = 100
QUERY_MAX = 8000


class ActionForm(BaseForm):
    """Only the CSRF token: share, unshare, delete, export and the selection form."""


class SearchQueryForm(BaseForm):
    query = HiddenField(validators=[Length(max=QUERY_MAX)])


class SaveSearchForm(SearchQueryForm):
    name = StringField(_l("検索の名前"), filters=[strip_filter],
                       validators=[DataRequired(_l("名前を入力してください。")), Length(max=NAME_MAX)])
    shared = BooleanField(_l("他の職員と共有する"))
    submit = SubmitField(_l("この条件を保存"))


class RenameSearchForm(BaseForm):
    name = StringField(_l("新しい名前"), filters=[strip_filter],
                       validators=[DataRequired(_l("名前を入力してください。")), Length(max=NAME_MAX)])
    submit = SubmitField(_l("名前を変更"))
