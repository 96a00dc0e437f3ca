"""The staff admin area (/admin): deny by default, each view declares its permission.

Every capability that has admin screens makes its blueprint with `staff_blueprint(...)`, which
installs the same deny-by-default check, and renders with `render(...)`, which adds breadcrumbs.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

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
    if not current_user.can(needed):
        log.warning("permission denied endpoint=%s staff=%s", request.endpoint, current_user.id)
        abort(403)
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
