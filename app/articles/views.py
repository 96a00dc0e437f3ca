"""Staff screens for articles and image uploads: viewers see the list, editors write, publish and delete."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.articles import forms, markdown, services, storage
from app.articles.models import Article
from app.auth.web import client_ip, is_staff, requires, settings
from app.codes.models import CodeKind
from app.codes.services import selectable
from app.core.pagination import paginate
from app.core.timeutil import from_tokyo_input, to_tokyo_input, utcnow
from app.extensions import db
from app.staff.models import Permission

log = logging.getLogger("tsunagu.articles")
bp = staff_blueprint("articles_admin", __name__, "/admin/articles")
LIST_CRUMB = _l("記事")
FORM_ENDPOINTS = frozenset({"articles_admin.new", "articles_admin.edit"})
UPLOAD_SLACK = 1024 * 1024  # the article's own fields and the multipart envelope around the image


@bp.url_value_preprocessor
def _allow_image_upload(endpoint: str | None, _values: Any) -> None:
    """The edit form carries an image: allow image_max_bytes plus the form, for editors only (set before
    the CSRF check reads the body). Anything larger gets the 413 page."""
    if endpoint in FORM_ENDPOINTS and is_staff() and current_user.can(Permission.EDIT):
        request.max_content_length = max(settings().max_request_bytes, settings().image_max_bytes + UPLOAD_SLACK)




@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    form = forms.ArticleFilterForm(request.args)
    form.state.choices = [("", _("すべて")), *[(key, label) for key, label in services.STATE_LABELS.items()]]
    state, page = "", 1
    if form.validate():
        state, page = form.state.data or "", form.page.data or 1
    result = paginate(db.session, services.admin_statement(state), page, services.ADMIN_PAGE_SIZE)
    now = utcnow()
    return render("articles/admin_list.html", [(LIST_CRUMB, None)], form=form, result=result,
                  states={a.id: services.state_of(a, now) for a in result.items},
                  state_labels=services.STATE_LABELS, args={"state": state} if state else {}, confirm=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    return _article_form(None, [(LIST_CRUMB, url_for(".index")), (_l("記事の作成"), None)])


@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(article_id: int) -> Any:
    article = db.get_or_404(Article, article_id)
    return _article_form(article, [(LIST_CRUMB, url_for(".index")), (article.title, None)])


def _fill(form: forms.ArticleForm, article: Article) -> None:
    form.title.data, form.summary.data = article.title, article.summary or ""
    form.category.data, form.body_markdown.data = article.category_id or 0, article.body_markdown
    state = services.state_of(article)
    form.publication.data = state
    form.publish_at.data = to_tokyo_input(article.publish_at) if state == services.SCHEDULED else None


def _publish_at(form: forms.ArticleForm, article: Article | None) -> tuple[bool, datetime | None]:
    """(ok, the publish_at to store) for the chosen publication; a past schedule is a field error."""
    now = utcnow()
    choice = form.publication.data
    if choice == services.PUBLISHED:
        keep = article is not None and article.publish_at is not None and article.publish_at <= now
        return True, article.publish_at if keep else now.replace(microsecond=0)  # type: ignore[union-attr]
    if choice == services.SCHEDULED:
        when = from_tokyo_input(form.publish_at.data)
        if when is None or when <= now:
            form.publish_at.errors = [*form.publish_at.errors, _("予約の公開日時は現在より後の日時にしてください。")]
            return False, None
        return True, when
    return True, None


def _article_form(article: Article | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.ArticleForm()
    upload_form = forms.ImageUploadForm()
    form.category.choices = [(0, _("(分類なし)")), *[(c.id, c.label) for c in selectable(
        db.session, CodeKind.ARTICLE_CATEGORY, keep_ids=[article.category_id if article else None])]]
    if request.method == "GET" and article is not None:
        _fill(form, article)
    preview, uploaded, status = None, None, 200
    if request.method == "POST" and "upload" in request.form:
        uploaded, status = _upload(upload_form)
    elif form.validate_on_submit():
        ok, publish_at = _publish_at(form, article)
        values = {"title": form.title.data, "summary": form.summary.data or None,
                  "body_markdown": form.body_markdown.data.replace("\r\n", "\n"),
                  "category_id": form.category.data or None, "publish_at": publish_at}
        if form.preview.data:
            preview = {**values, "body_html": markdown.render(values["body_markdown"])}
        elif ok:
            saved = services.save_article(db.session, current_user, article, values, client_ip())
            db.session.commit()
            flash(_("記事「%(title)s」を保存しました(%(state)s)。", title=saved.title,
                    state=services.STATE_LABELS[services.state_of(saved)]), "info")
            return redirect(url_for(".index"))
    elif request.method == "POST":
        status = 400
    return render("articles/admin_form.html", crumbs, form=form, upload_form=upload_form, article=article,
                  preview=preview, uploaded=uploaded, images=services.recent_images(db.session),
                  max_kb=settings().image_max_bytes // 1024), status


def _upload(upload_form: forms.ImageUploadForm) -> tuple[Any, int]:
    """Store the image of the edit form (the article itself is not saved); (image or None, status)."""
    if not upload_form.validate_on_submit():
        return None, 400
    file = upload_form.image.data
    if file is None or not getattr(file, "filename", None):
        upload_form.image.errors = [_("アップロードする画像ファイルを選んでください。")]
        return None, 400
    limit = settings().image_max_bytes
    try:
        image = storage.store_image(db.session, current_app.instance_path, current_user, file.read(limit + 1),
                                    file.filename, file.mimetype, limit, client_ip())
    except storage.ImageRejected as exc:
        db.session.rollback()
        log.info("image upload refused (staff=%s): %s", current_user.id, exc)
        upload_form.image.errors = [str(exc)]
        return None, 400
    db.session.commit()
    flash(_("画像をアップロードしました。下の Markdown を本文に貼り付けてください。"), "info")
    return image, 200


@bp.post("/<int:article_id>/publish")
@requires(Permission.EDIT)
def publish(article_id: int) -> Any:
    article = db.get_or_404(Article, article_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_publication(db.session, current_user, article, utcnow().replace(microsecond=0), client_ip())
    db.session.commit()
    flash(_("記事「%(title)s」を公開しました。", title=article.title), "info")
    return redirect(url_for(".index"))


@bp.post("/<int:article_id>/unpublish")
@requires(Permission.EDIT)
def unpublish(article_id: int) -> Any:
    article = db.get_or_404(Article, article_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.set_publication(db.session, current_user, article, None, client_ip())
    db.session.commit()
    flash(_("記事「%(title)s」を下書きに戻しました。登録者には表示されません。", title=article.title), "info")
    return redirect(url_for(".index"))


@bp.post("/<int:article_id>/delete")
@requires(Permission.EDIT)
def delete(article_id: int) -> Any:
    article = db.get_or_404(Article, article_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    title = article.title
    services.delete_article(db.session, current_user, article, client_ip())
    db.session.commit()
    flash(_("記事「%(title)s」を削除しました。", title=title), "info")
    return redirect(url_for(".index"))
