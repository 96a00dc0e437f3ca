"""Language choice: Japanese unless the user picked English with the switch in the page header."""

from __future__ import annotations

from flask import Blueprint, current_app, has_request_context, redirect, request, url_for

from app.config import SUPPORTED_LOCALES
from app.core.redirects import safe_next

LOCALE_COOKIE = "tsunagu_lang"
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = request.cookies.get(LOCALE_COOKIE) if has_request_context() else None
    if chosen in SUPPORTED_LOCALES:
        return chosen
    return current_app.extensions["tsunagu.settings"].default_locale


@bp.get("/lang/<code>")
def switch(code: str):  # type: ignore[no-untyped-def]
    target = safe_next(request.args.get("next"), url_for("portal.index"))
    response = redirect(target)
    if code in SUPPORTED_LOCALES:
        response.set_cookie(LOCALE_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True, secure=request.is_secure)
    return response
