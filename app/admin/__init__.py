"""The staff admin area (/admin): deny by default, each view declares its permission.

Every capability that has admin screens makes its blueprint with `staff_blueprint(...)`, which
installs the same deny-by-default check (and sends a user with a forced password change or a required,
not yet set up two-factor login to that step first), and renders with `render(...)`, which adds breadcrumbs.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from app.auth.web import PUBLIC, is_staff, required_permission
from app.extensions import login_manager

log = logging.getLogger("tsunagu.admin")
HOME = (_l("管理画面トップ"), "admin.dashboard")
STAFF_BLUEPRINTS: list[str] = []


def enforce_permission() -> Any:
    needed = required_permission(request.endpoint)
    if needed == PUBLIC:
        return None
    if not is_staff():
        return login_manager.unauthorized()
    if needed is None:
        log.error("admin endpoint %s declares no permission; refused", request.endpoint)
        abort(403)
    step = account_step_due()
    if step and request.endpoint not in ACCOUNT_STEP_ENDPOINTS:
        flash(str(_l("パスワードを変更してください。変更するまで他の画面は使えません。")) if step == "admin.change_password"
              else str(_l("二要素認証を設定してください。設定するまで他の画面は使えません。")), "error")
        return redirect(url_for(step))
    if not current_user.can(needed):
        log.warning("permission denied endpoint=%s staff=%s", request.endpoint, current_user.id)
        abort(403)
    return None


# What a staff user may still open while a required account step is due (logout is public anyway).
ACCOUNT_STEP_ENDPOINTS = frozenset({"admin.change_password", "admin.totp_setup"})


def account_step_due() -> str | None:
    """The endpoint a logged-in staff user must finish first: a forced password change, then a TOTP
    enrolment their role requires. None when nothing is due."""
    if current_user.must_change_password:
        return "admin.change_password"
    required = current_app.extensions["tsunagu.settings"].totp_required_role_set
    if current_user.role in required and current_user.totp_enabled_at is None:
        return "admin.totp_setup"
    return None


def staff_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A blueprint under /admin whose every view must declare a permission (or be marked public)."""
    if not url_prefix.startswith("/admin"):
        raise ValueError("staff blueprints live under /admin")
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.before_request(enforce_permission)
    STAFF_BLUEPRINTS.append(name)
    return bp


def render(template: str, crumbs: list[tuple[Any, str | None]], **context: Any) -> str:
    """Render an admin page with its breadcrumb trail (S-A1): home first, the current page last."""
    trail = [(HOME[0], url_for(HOME[1]))] + [(label, url) for label, url in crumbs]
    return render_template(template, breadcrumbs=trail, **context)


MENU_CACHE_LIMIT = 4096


def admin_nav() -> Markup:
    """The staff menu (admin/_nav.html), rendered once per role, language and page, then reused.

    Nothing else changes it, and its forty-odd links and labels were about a third of the time a short
    admin page took to render. Kept per app; not kept in debug mode, where templates are edited live.
    """
    settings = current_app.extensions["tsunagu.settings"]
    key = (current_user.role, str(get_locale()), request.endpoint, bool(settings.mail_catch_dir))
    menus: dict[tuple[Any, ...], Markup] = current_app.extensions.setdefault("tsunagu.admin_menus", {})
    menu = menus.get(key)
    if menu is None:
        menu = Markup(render_template("admin/_nav.html"))  # noqa: S704 (an autoescaped template's output)  # nosec B704
        if not current_app.debug and len(menus) < MENU_CACHE_LIMIT:
            menus[key] = menu
    return menu
