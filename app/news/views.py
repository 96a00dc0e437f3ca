"""News and YouTube links maintenance (S-A14/A16): viewers see the list, editors change it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.auth.web import client_ip, requires
from app.core.timeutil import from_tokyo_input, to_tokyo_input
from app.extensions import db
from app.news import forms, services
from app.news.models import NewsItem, VideoLink
from app.staff.models import Permission

log = logging.getLogger("tsunagu.news")
bp = staff_blueprint("news_admin", __name__, "/admin/news")
LIST_CRUMB = _l("お知らせ・動画")
STATE_LABELS = {"scheduled": _l("掲載前"), "published": _l("掲載中"), "ended": _l("掲載終了")}


@bp.app_template_filter("news_body")
def news_body(text: str) -> Any:
    return services.body_html(text or "")


@bp.app_template_global("youtube_embed_url")
def youtube_embed_url(video_id: str) -> str:
    return services.embed_url(video_id)


@bp.app_template_global("youtube_watch_url")
def youtube_watch_url(video_id: str) -> str:
    return services.watch_url(video_id)




@bp.get("")
@requires(Permission.VIEW)
def index() -> Any:
    news = db.session.scalars(db.select(NewsItem).order_by(NewsItem.publish_from.desc(), NewsItem.id.desc())).all()
    videos = db.session.scalars(db.select(VideoLink).order_by(VideoLink.sort_order, VideoLink.id)).all()
    return render("news/index.html", [(LIST_CRUMB, None)], news=news, videos=videos,
                  state={item.id: services.window_state(item) for item in news}, state_labels=STATE_LABELS,
                  confirm=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def new() -> Any:
    return _news_form(None, [(LIST_CRUMB, url_for(".index")), (_l("お知らせの作成"), None)])


@bp.route("/<int:news_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit(news_id: int) -> Any:
    item = db.get_or_404(NewsItem, news_id)
    return _news_form(item, [(LIST_CRUMB, url_for(".index")), (item.title, None)])


def _news_form(item: NewsItem | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.NewsForm()
    if request.method == "GET":
        if item is not None:
            form.title.data, form.body.data = item.title, item.body
            form.publish_from.data, form.publish_until.data = to_tokyo_input(item.publish_from), to_tokyo_input(item.publish_until)
        else:
            form.publish_from.data = to_tokyo_input(datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0))
    preview = None
    if form.validate_on_submit():
        values = {"title": form.title.data, "body": form.body.data.replace("\r\n", "\n"),
                  "publish_from": from_tokyo_input(form.publish_from.data), "publish_until": from_tokyo_input(form.publish_until.data)}
        if form.preview.data:
            preview = values
        else:
            services.save_news(db.session, current_user, item, values, client_ip())
            flash(_("お知らせを保存しました。"), "info")
            return redirect(url_for(".index"))
    return render("news/form.html", crumbs, form=form, item=item, preview=preview)


@bp.post("/<int:news_id>/delete")
@requires(Permission.EDIT)
def delete(news_id: int) -> Any:
    item = db.get_or_404(NewsItem, news_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_news(db.session, current_user, item, client_ip())
    flash(_("お知らせを削除しました。"), "info")
    return redirect(url_for(".index"))


@bp.route("/videos/new", methods=["GET", "POST"])
@requires(Permission.EDIT)
def video_new() -> Any:
    return _video_form(None, [(LIST_CRUMB, url_for(".index")), (_l("動画の追加"), None)])


@bp.route("/videos/<int:video_id>/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def video_edit(video_id: int) -> Any:
    video = db.get_or_404(VideoLink, video_id)
    return _video_form(video, [(LIST_CRUMB, url_for(".index")), (video.title, None)])


def _video_form(video: VideoLink | None, crumbs: list[tuple[Any, str | None]]) -> Any:
    form = forms.VideoForm()
    if request.method == "GET" and video is not None:
        form.title.data, form.description.data = video.title, video.description
        form.url.data, form.is_published.data = services.watch_url(video.video_id), video.is_published
    if form.validate_on_submit():
        values = {"title": form.title.data, "video_id": services.youtube_id(form.url.data),
                  "description": form.description.data or None, "is_published": bool(form.is_published.data)}
        services.save_video(db.session, current_user, video, values, client_ip())
        flash(_("動画を保存しました。"), "info")
        return redirect(url_for(".index"))
    if form.url.errors:
        log.info("video link refused: not a YouTube video URL (staff=%s)", current_user.id)
    return render("news/video_form.html", crumbs, form=form, video=video)


@bp.post("/videos/<int:video_id>/delete")
@requires(Permission.EDIT)
def video_delete(video_id: int) -> Any:
    video = db.get_or_404(VideoLink, video_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_video(db.session, current_user, video, client_ip())
    flash(_("動画を削除しました。"), "info")
    return redirect(url_for(".index"))
