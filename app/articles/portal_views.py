"""Published articles for registrants, and uploaded images served by id.

`show` is the endpoint the analytics part counts as an article read (request.view_args["article_id"]).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user

from app.articles import forms, services, storage
from app.articles.models import UploadedImage
from app.auth.web import registrant_required
from app.extensions import db, login_manager

log = logging.getLogger("tsunagu.articles")
bp = Blueprint("portal_articles", __name__, url_prefix="/articles")
IMAGE_CACHE = "private, max-age=86400"  # an id always names the same bytes; never in a shared cache


@bp.get("")
@registrant_required
def index() -> Any:
    form = forms.PortalFilterForm(request.args)
    categories = services.portal_categories(db.session)
    form.category.choices = [(0, _("すべて")), *[(c.id, c.label) for c in categories]]
    category_id, page = 0, 1
    if form.validate():
        category_id, page = form.category.data or 0, form.page.data or 1
    result = services.published_page(db.session, category_id or None, page)
    return render_template("articles/portal_list.html", form=form, result=result, categories=categories,
                           category_id=category_id, args={"category": category_id} if category_id else {})


@bp.get("/<int:article_id>")
@registrant_required
def show(article_id: int) -> Any:
    article = services.published_article(db.session, article_id)
    if article is None:
        abort(404)
    return render_template("articles/portal_show.html", article=article)


@bp.get("/images/<int:image_id>")
def image(image_id: int) -> Any:
    """An article image for any logged-in account (registrant or staff), with the type decided at upload."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    row = db.session.get(UploadedImage, image_id)
    if row is None:
        abort(404)
    path = storage.stored_file(current_app.instance_path, row)
    if path is None:
        log.error("image file missing for uploaded_image %s (check the uploads directory and backups)", row.id)
        abort(404)
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=row.sha256, max_age=86400)
    response.headers["Content-Disposition"] = "inline"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = IMAGE_CACHE
    return response
