"""Registrant search screens, saved searches and list exports (S-A2, S-A8)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import abort, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires
from app.codes.models import Code, CodeKind
from app.core.pagination import Page, paginate
from app.core.templating import STATUS_LABELS
from app.extensions import db
from app.registrants.models import Registrant
from app.searches import exports, forms, services
from app.searches.columns import COLUMNS, DEFAULT_COLUMNS, parse_columns, row_values
from app.searches.models import SavedSearch
from app.searches.services import SearchError
from app.staff.models import Permission, Role

bp = staff_blueprint("search_admin", __name__, "/admin/search")
log = logging.getLogger("tsunagu.search")
CRUMB = _l("登録者検索")
SAVED_CRUMB = _l("保存した検索")
PER_PAGE_CHOICES = (20, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_PAGE = 100_000
CODE_FIELDS = [  # criteria key, code kind, label
    ("regions", CodeKind.REGION.value, _l("居住地域")),
    ("licences", CodeKind.LICENCE.value, _l("免許")),
    ("subjects", CodeKind.SUBJECT.value, _l("教科")),
    ("job_types", CodeKind.JOB_TYPE.value, _l("希望職種")),
    ("school_types", CodeKind.SCHOOL_TYPE.value, _l("希望校種")),
    ("tags", CodeKind.TAG.value, _l("タグ")),
]


@dataclass
class SearchRequest:
    """The search page's parameters, each parsed on its own so one bad value does not hide the others."""

    criteria: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=lambda: list(DEFAULT_COLUMNS))
    sort: str = services.DEFAULT_SORT
    per_page: int = DEFAULT_PER_PAGE
    page: int = 1
    problems: list[str] = field(default_factory=list)

    def args(self, with_page: bool = False) -> dict[str, Any]:
        values = services.search_args(self.criteria, self.columns, self.sort,
                                      self.per_page if self.per_page != DEFAULT_PER_PAGE else None)
        if with_page and self.page > 1:
            values["page"] = str(self.page)
        return values

    def query(self) -> str:
        return urlencode(self.args(), doseq=True)


def read_search(args: MultiDict[str, str]) -> SearchRequest:
    search = SearchRequest()
    try:
        search.criteria = services.criteria_from_args(args)
    except SearchError as exc:
        search.problems.append(str(exc))
    try:
        search.columns = parse_columns(args.getlist("col") if "col" in args else args.get("columns"))
        search.columns = _moved(search.columns, args.get("move", ""))
    except SearchError as exc:
        search.problems.append(str(exc))
    try:
        services.sort_key(args.get("sort", ""))
        search.sort = args.get("sort") or services.DEFAULT_SORT
    except SearchError as exc:
        search.problems.append(str(exc))
    per_page = args.get("per_page", "")
    if per_page:
        if per_page.isdigit() and int(per_page) in PER_PAGE_CHOICES:
            search.per_page = int(per_page)
        else:
            search.problems.append(_("1ページの件数は %(choices)s のいずれかを指定してください。",
                                     choices="・".join(str(n) for n in PER_PAGE_CHOICES)))
    page = args.get("page", "")
    if page:
        if page.isascii() and page.isdigit() and len(page) <= 6 and 1 <= int(page) <= MAX_PAGE:
            search.page = int(page)
        else:
            search.problems.append(_("ページ番号は1から%(max)dまでの数字で指定してください。", max=MAX_PAGE))
    return search


def _decoded(query: str) -> MultiDict[str, str]:
    """The search parameters a form carried as its `query` field (bounded by the form's length check)."""
    return MultiDict(parse_qsl(query))


def _moved(columns: list[str], move: str) -> list[str]:
    """Move one chosen column left ("up:key") or right ("down:key"): the no-script way to order columns."""
    direction, _sep, key = move.partition(":")
    if key not in columns or direction not in ("up", "down"):
        return columns
    index = columns.index(key)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(columns):
        columns[index], columns[target] = columns[target], columns[index]
    return columns


def _code_choices(kind: str, selected: list[int]) -> list[Code]:
    """Active codes of a kind, plus retired ones the current criteria still name."""
    stmt = sa.select(Code).where(Code.kind == kind)
    stmt = stmt.where(sa.or_(Code.is_active.is_(True), Code.id.in_(selected))) if selected else stmt.where(
        Code.is_active.is_(True))
    return list(db.session.scalars(stmt.order_by(Code.sort_order, Code.id)))


def _page_rows(result: Page, columns: list[str]) -> list[tuple[Registrant, list[Any]]]:
    from app.searches.columns import code_labels, codes_for

    codes = codes_for(db.session, result.items, code_labels(db.session))
    return [(registrant, row_values(columns, registrant, codes[registrant.id])) for registrant in result.items]


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    search = read_search(request.args)
    result, rows, status = None, [], 200
    if search.problems:
        status = 400
        log.warning("search refused: %s staff=%s", "; ".join(search.problems), current_user.id)
    else:
        stmt = services.search_statement(search.criteria, search.sort)
        result = paginate(db.session, stmt, search.page, search.per_page)
        if search.page > result.pages:
            search.problems.append(_("%(page)d ページ目はありません(全 %(pages)d ページ)。最後のページを表示しています。",
                                     page=search.page, pages=result.pages))
            search.page = result.pages
            result = paginate(db.session, stmt, search.page, search.per_page)
        rows = _page_rows(result, search.columns)
        audit.record(db.session, current_user, "search.run", "registrant:*",
                     {"criteria": services.describe(search.criteria), "count": result.total, "page": search.page},
                     client_ip())
        db.session.commit()
    opened = services.visible_saved_search(db.session, current_user, request.args.get("saved"))
    return render("searches/index.html", [(CRUMB, None)], search=search, result=result, rows=rows,
                  code_fields=[(key, label, _code_choices(kind, search.criteria.get(key, [])))
                               for key, kind, label in CODE_FIELDS],
                  statuses=STATUS_LABELS, columns=COLUMNS, per_page_choices=PER_PAGE_CHOICES,
                  column_order=search.columns + [key for key in COLUMNS if key not in search.columns],
                  save_form=forms.SaveSearchForm(formdata=None),
                  opened=opened, can_edit=current_user.can(Permission.EDIT)), status


# --- exports ------------------------------------------------------------------------------------

def _back_to(search_query: str) -> Any:
    """Back to the search the form came from; its parameters re-encoded, so that a tampered `query` field can
    never put raw text (a line break, another header) into the Location header."""
    args = urlencode(list(_decoded(search_query).items(multi=True)))
    return redirect(url_for(".index") + (f"?{args}" if args else ""))


@bp.post("/export/csv")
@requires(Permission.EDIT)
def export_csv() -> Any:
    return _export("csv")


@bp.post("/export/xlsx")
@requires(Permission.EDIT)
def export_xlsx() -> Any:
    return _export("xlsx")


def _export(fmt: str) -> Any:
    form = forms.SearchQueryForm()
    query = form.query.data or ""
    if not form.validate_on_submit():
        flash(_("出力の指定が正しくありません。検索し直してください。"), "error")
        return redirect(url_for(".index"))
    search = read_search(_decoded(query))
    selected: list[int] | None = None
    if request.form.get("scope") == "selected":
        try:
            selected = _selected_ids(request.form.getlist("registrant_id"))
        except SearchError as exc:
            search.problems.append(str(exc))
    if search.problems:
        for problem in search.problems:
            flash(problem, "error")
        return _back_to(query)
    stmt = services.search_statement(search.criteria, search.sort)
    result = exports.export_registrants(db.session, current_user, fmt, stmt=stmt, columns=search.columns,
                                        criteria=search.criteria, sort=search.sort, selected=selected,
                                        ip=client_ip())
    db.session.commit()
    return send_file(result.writer.rewound(), mimetype=result.mimetype, as_attachment=True,
                     download_name=result.filename, max_age=0)


def _selected_ids(values: list[str]) -> list[int]:
    if not values:
        raise SearchError(_("出力する行を選択してください。"))
    if len(values) > exports.MAX_SELECTED:
        raise SearchError(_("一度に選択できるのは%(max)d行までです。", max=exports.MAX_SELECTED))
    if not all(value.isascii() and value.isdigit() and len(value) <= 10 for value in values):
        raise SearchError(_("選択した行の指定が正しくありません。"))
    return sorted({int(value) for value in values})


# --- saved searches -----------------------------------------------------------------------------

@bp.get("/saved")
@requires(Permission.VIEW)
def saved_list() -> Any:
    own, shared = services.saved_searches(db.session, current_user)
    return render("searches/saved.html", [(CRUMB, url_for(".index")), (SAVED_CRUMB, None)], own=own, shared=shared,
                  can_edit=current_user.can(Permission.EDIT), is_admin=current_user.role == Role.ADMINISTRATOR.value)


@bp.post("/saved")
@requires(Permission.VIEW)
def save() -> Any:
    form = forms.SaveSearchForm()
    query = form.query.data or ""
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return _back_to(query)
    search = read_search(_decoded(query))
    if form.shared.data and not current_user.can(Permission.EDIT):
        search.problems.append(_("検索を共有できるのは更新権限のある職員だけです。"))
    if not search.problems:
        try:
            saved = services.save_search(db.session, current_user, name=form.name.data, criteria=search.criteria,
                                         columns=search.columns, sort=search.sort, shared=bool(form.shared.data),
                                         ip=client_ip())
        except SearchError as exc:
            search.problems.append(str(exc))
    if search.problems:
        db.session.rollback()
        for problem in search.problems:
            flash(problem, "error")
        return _back_to(query)
    db.session.commit()
    flash(_("検索「%(name)s」を保存しました。", name=saved.name), "info")
    return redirect(url_for(".open_saved", saved_search_id=saved.id))


def _visible_or_404(saved_search_id: int) -> SavedSearch:
    saved = services.visible_saved_search(db.session, current_user, saved_search_id)
    if saved is None:
        abort(404)
    return saved


def _own_or_403(saved_search_id: int, *, admin_may: bool = False) -> SavedSearch:
    saved = _visible_or_404(saved_search_id)
    if saved.owner_id != current_user.id and not (admin_may and current_user.role == Role.ADMINISTRATOR.value):
        abort(403)
    return saved


@bp.get("/saved/<int:saved_search_id>")
@requires(Permission.VIEW)
def open_saved(saved_search_id: int) -> Any:
    saved = _visible_or_404(saved_search_id)
    try:
        criteria = services.criteria_from_json(saved.criteria)
        columns = parse_columns(saved.columns)
        services.sort_key(saved.sort)
    except SearchError as exc:  # e.g. a column removed since it was saved
        flash(_("保存した検索「%(name)s」を開けません: %(reason)s", name=saved.name, reason=str(exc)), "error")
        return redirect(url_for(".saved_list"))
    args = services.search_args(criteria, columns, saved.sort)
    return redirect(url_for(".index", saved=saved.id, **args))


@bp.post("/saved/<int:saved_search_id>/rename")
@requires(Permission.VIEW)
def rename(saved_search_id: int) -> Any:
    saved = _own_or_403(saved_search_id)
    form = forms.RenameSearchForm()
    if form.validate_on_submit():
        try:
            services.rename_search(db.session, current_user, saved, form.name.data, client_ip())
            db.session.commit()
            flash(_("名前を変更しました。"), "info")
        except SearchError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    return redirect(url_for(".saved_list"))


@bp.post("/saved/<int:saved_search_id>/share")
@requires(Permission.EDIT)
def share(saved_search_id: int) -> Any:
    return _set_shared(saved_search_id, True)


@bp.post("/saved/<int:saved_search_id>/unshare")
@requires(Permission.EDIT)
def unshare(saved_search_id: int) -> Any:
    return _set_shared(saved_search_id, False)


def _set_shared(saved_search_id: int, shared: bool) -> Any:
    saved = _own_or_403(saved_search_id)
    if forms.ActionForm().validate_on_submit():
        services.share_search(db.session, current_user, saved, shared, client_ip())
        db.session.commit()
        flash(_("検索「%(name)s」を共有しました。", name=saved.name) if shared
              else _("検索「%(name)s」の共有をやめました。", name=saved.name), "info")
    return redirect(url_for(".saved_list"))


@bp.post("/saved/<int:saved_search_id>/delete")
@requires(Permission.VIEW)
def delete(saved_search_id: int) -> Any:
    saved = _own_or_403(saved_search_id, admin_may=True)
    if forms.ActionForm().validate_on_submit():
        name = saved.name
        services.delete_search(db.session, current_user, saved, client_ip())
        db.session.commit()
        flash(_("検索「%(name)s」を削除しました。", name=name), "info")
    return redirect(url_for(".saved_list"))
