"""Admin pages of the CSV import: upload, preview, commit or discard, column mappings, history, blank template.

The file's content lives in ImportBatch from the upload on: the preview and the commit read it from the
database by the batch id, never from anything the browser sends back.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import audit
from app.admin import render, staff_blueprint
from app.auth.web import client_ip, is_staff, requires, settings
from app.extensions import db
from app.imports import forms, services
from app.imports.models import ImportBatch, ImportMapping
from app.staff.models import Permission
from app.sync.models import SyncRun

bp = staff_blueprint("imports", __name__, "/admin/imports")
CRUMB = (_l("CSV取込"), "imports.index")
SHOWN_ERRORS = 1000  # rows of the error table on the page; the CLI lists them all
SHOWN_DUPLICATES = 500
LARGE_FILE_ROWS = 3000  # above this the commit takes a while: about 6 s per 1,000 new registrants on MariaDB
UPLOAD_SLACK = 1024 * 1024  # room for the multipart envelope, so the service can name the limit itself


@bp.url_value_preprocessor
def _allow_large_upload(endpoint: str | None, _values: Any) -> None:
    """The upload may exceed the site-wide request limit, but only for staff allowed to import.

    URL value preprocessors run before every before_request function, including the CSRF check that
    reads the body, so the raised limit is in place before anything is parsed.
    """
    if endpoint == "imports.upload" and is_staff() and current_user.can(Permission.EDIT):
        request.max_content_length = max(settings().max_request_bytes, services.MAX_FILE_BYTES + UPLOAD_SLACK)


def _crumbs(*more: tuple[Any, str | None]) -> list[tuple[Any, str | None]]:
    return [(CRUMB[0], url_for(CRUMB[1])), *more]


def _open_batch(batch_id: int) -> ImportBatch:
    return db.get_or_404(ImportBatch, batch_id)


# --- upload and history ----------------------------------------------------------------------------------

def _index_page(form: forms.UploadForm | None, status: int = 200) -> Any:
    return render("imports/index.html", [(CRUMB[0], None)], form=form, history=services.history(db.session),
                  max_mb=services.MAX_FILE_BYTES // (1024 * 1024), max_rows=f"{services.MAX_ROWS:,}",
                  encodings=services.ENCODING_LABELS), status


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.UploadForm(services.list_mappings(db.session)) if current_user.can(Permission.EDIT) else None
    return _index_page(form)


@bp.post("/upload")
@requires(Permission.EDIT)
def upload() -> Any:
    form = forms.UploadForm(services.list_mappings(db.session))
    if not form.validate_on_submit():
        return _index_page(form, 400)
    upload_file = form.file.data
    try:
        batch, _preview = services.create_batch(
            db.session, current_user, filename=upload_file.filename,
            raw=upload_file.read(services.MAX_FILE_BYTES + 1),
            mapping_id=int(form.mapping.data) if form.mapping.data else None, ip=client_ip())
    except services.ImportFileError as exc:
        db.session.rollback()
        form.file.errors = [exc.message, _("何も取り込んでいません。")]
        return _index_page(form, 400)
    return redirect(url_for(".preview", batch_id=batch.id))


# --- preview, commit, discard --------------------------------------------------------------------------------

@bp.get("/<int:batch_id>")
@requires(Permission.EDIT)
def preview(batch_id: int) -> Any:
    batch = _open_batch(batch_id)
    mapping = db.session.get(ImportMapping, batch.mapping_id) if batch.mapping_id else None
    if batch.status != services.BatchStatus.PREVIEWED:
        run = db.session.get(SyncRun, batch.run_id) if batch.run_id else None
        return render("imports/done.html", _crumbs((_l("取込の結果"), None)), batch=batch, run=run, mapping=mapping)
    crumbs = _crumbs((_l("取込内容の確認"), None))
    result = services.preview_batch(db.session, batch)
    audit.record(db.session, current_user, "import.preview", f"import_batch:{batch.id}",
                 {"rows": result.data_rows, "error_rows": result.error_rows}, client_ip())
    db.session.commit()
    return render("imports/preview.html", crumbs, batch=batch, preview=result, mapping=mapping,
                  encoding=services.ENCODING_LABELS.get(batch.encoding, batch.encoding),
                  errors=result.row_errors[:SHOWN_ERRORS], duplicates=result.duplicates[:SHOWN_DUPLICATES],
                  action_form=forms.ActionForm(), large_rows=LARGE_FILE_ROWS,
                  use_form=forms.UseMappingForm(services.list_mappings(db.session), batch.mapping_id),
                  labels={"create": _("新規"), "update": _("更新"), "unchanged": _("変更なし"),
                          "duplicate": _("重複候補(保留)")})


@bp.post("/<int:batch_id>/commit")
@requires(Permission.EDIT)
def commit(batch_id: int) -> Any:
    batch = _open_batch(batch_id)
    if not forms.ActionForm().validate_on_submit():
        abort(400)
    try:
        run = services.commit_batch(db.session, settings(), current_user, batch, trigger="staff", ip=client_ip())
    except services.CommitRefused as exc:
        for message in exc.messages:
            flash(message, "error")
        return redirect(url_for(".preview", batch_id=batch_id))
    flash(_("取り込みました(新規 %(created)d 件、更新 %(updated)d 件、変更なし %(unchanged)d 件、"
            "重複候補として保留 %(duplicates)d 件)。", created=run.created, updated=run.updated,
            unchanged=run.unchanged, duplicates=run.duplicates), "info")
    return redirect(url_for(".preview", batch_id=batch_id))


@bp.post("/<int:batch_id>/discard")
@requires(Permission.EDIT)
def discard(batch_id: int) -> Any:
    batch = _open_batch(batch_id)
    if not forms.ActionForm().validate_on_submit():
        abort(400)
    try:
        services.discard_batch(db.session, current_user, batch, client_ip())
    except services.CommitRefused as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    else:
        flash(_("アップロードしたファイルを破棄しました。何も取り込んでいません。"), "info")
    return redirect(url_for(".index"))


# --- column mappings ------------------------------------------------------------------------------------------

@bp.post("/<int:batch_id>/use-mapping")
@requires(Permission.EDIT)
def use_mapping(batch_id: int) -> Any:
    batch = _open_batch(batch_id)
    form = forms.UseMappingForm(services.list_mappings(db.session), batch.mapping_id)
    if not form.validate_on_submit():
        abort(400)
    mapping = db.get_or_404(ImportMapping, int(form.mapping.data))
    try:
        services.use_mapping(db.session, current_user, batch, mapping, client_ip())
    except services.CommitRefused as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    else:
        flash(_("列の対応「%(name)s」で確認し直しました。", name=mapping.name), "info")
    return redirect(url_for(".preview", batch_id=batch_id))


@bp.route("/<int:batch_id>/mapping", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit_mapping(batch_id: int) -> Any:
    batch = _open_batch(batch_id)
    if batch.status != services.BatchStatus.PREVIEWED:
        flash(_("このファイルはすでに取込済みか破棄されています。"), "error")
        return redirect(url_for(".index"))
    headers = services.read_headers(batch.content)
    mapping = db.session.get(ImportMapping, batch.mapping_id) if batch.mapping_id else None
    lookup = {services.header_key(h): t for h, t in services.mapping_columns(mapping).items()}
    current = {h: lookup.get(services.header_key(h), "") for h in headers}
    # the standard mapping is not offered for overwriting: a new form version gets a name of its own
    keep_name = mapping is not None and mapping.name != services.DEFAULT_MAPPING_NAME
    form = forms.mapping_editor(headers, current, mapping.name if keep_name else "")
    if form.validate_on_submit():
        chosen = {header: field.data for field, header in form.header_fields}
        try:
            saved = services.save_mapping(db.session, current_user, form.name.data, chosen, client_ip())
            services.use_mapping(db.session, current_user, batch, saved, client_ip())
        except (services.MappingError, services.CommitRefused) as exc:
            db.session.rollback()
            for message in exc.messages:
                flash(message, "error")
        else:
            flash(_("列の対応「%(name)s」を保存しました。", name=saved.name), "info")
            return redirect(url_for(".preview", batch_id=batch.id))
    return render("imports/mapping.html",
                  _crumbs((_l("取込内容の確認"), url_for(".preview", batch_id=batch.id)), (_l("列の対応の編集"), None)),
                  batch=batch, form=form)


@bp.get("/mappings")
@requires(Permission.VIEW)
def mappings() -> Any:
    saved = [(m, [(header, services.target_label(target)) for header, target in services.mapping_columns(m).items()])
             for m in services.list_mappings(db.session)]
    return render("imports/mappings.html", _crumbs((_l("保存済みの列の対応"), None)), saved=saved,
                  default_name=services.DEFAULT_MAPPING_NAME)


@bp.get("/template.csv")
@requires(Permission.VIEW)
def template() -> Any:
    return Response(services.template_csv(db.session), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=tsunagu-import-template.csv"})
