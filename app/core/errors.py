"""Error pages in the user's language, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("tsunagu.errors")

MESSAGES = {
    400: (_l("リクエストが正しくありません"), _l("入力内容を確認して、もう一度お試しください。")),
    401: (_l("ログインが必要です"), _l("ログインしてからもう一度お試しください。")),
    403: (_l("この操作は許可されていません"), _l("この画面または操作を利用する権限がありません。")),
    404: (_l("ページが見つかりません"),
          _l("URLが間違っているか、ページが移動または削除された可能性があります。")),
    405: (_l("この方法では利用できません"), _l("画面のボタンやリンクから操作してください。")),
    413: (_l("送信されたデータが大きすぎます"), _l("ファイルや入力内容を小さくして、もう一度お試しください。")),
    429: (_l("アクセスが集中しています"),
          _l("短時間に多くのリクエストがありました。しばらく待ってからお試しください。")),
    500: (_l("システムエラーが発生しました"), _l("ご迷惑をおかけしています。時間をおいてもう一度お試しください。")),
}


def _render(code: int):  # type: ignore[no-untyped-def]
    title, body = MESSAGES.get(code, MESSAGES[500])
    if request.path.startswith("/healthz") or request.accept_mimetypes.best == "application/json":
        return jsonify(error=code, message=str(title)), code
    layout = "admin/base.html" if request.path.startswith("/admin") else "portal/base.html"
    return render_template("errors/error.html", code=code, title=title, body=body, layout=layout), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):  # type: ignore[no-untyped-def]
        log.warning("csrf rejected path=%s", request.path)
        title = _l("フォームの有効期限が切れました")
        body = _l("画面を再読み込みしてから、もう一度送信してください。")
        layout = "admin/base.html" if request.path.startswith("/admin") else "portal/base.html"
        return render_template("errors/error.html", code=400, title=title, body=body, layout=layout), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        return _render(error.code or 500)

    @app.errorhandler(Exception)
    def unhandled(error: Exception):  # type: ignore[no-untyped-def]
        if isinstance(error, HTTPException):
            return _render(error.code or 500)
        log.exception("unhandled error path=%s", request.path)
        return _render(InternalServerError.code)
