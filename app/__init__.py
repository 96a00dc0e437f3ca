"""Tsunagu: registrant network and matching appliance."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application. `config` overrides settings by name (tests, tools)."""
    from app import cli, extensions
    from app.analytics import recording
    from app.auth import authlog
    from app.config import load_settings
    from app.core import errors, i18n, security, templating

    app = Flask(__name__, instance_path=os.environ.get("TSUNAGU_INSTANCE_PATH") or None,
                instance_relative_config=True)
    settings = load_settings(app.instance_path, overrides=config)
    app.extensions["tsunagu.settings"] = settings
    app.config.update(_flask_config(settings))
    authlog.configure(settings.auth_log)

    _init_extensions(app, extensions, i18n.select_locale)
    security.init_app(app, settings)
    errors.init_app(app)
    _register_blueprints(app)
    recording.init_app(app)
    templating.init_app(app)
    cli.init_app(app)
    return app


def _flask_config(settings: Any) -> dict[str, Any]:
    from datetime import timedelta

    from app.core import dbpool

    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": dict(dbpool.ENGINE_OPTIONS),
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
        "MAX_FORM_MEMORY_SIZE": settings.max_form_bytes,
        "MAX_FORM_PARTS": 200,
        "SESSION_COOKIE_NAME": "tsunagu_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": settings.cookie_secure,
        "USE_SESSION_FOR_NEXT": True,  # the login views read session["next"]; never a forgeable ?next=
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings.session_absolute_hours),
        # the cookie lives as long as the absolute session limit, from login; idle expiry is the server's
        # (LoginSession), so re-signing and re-sending the cookie on every response bought nothing
        "SESSION_REFRESH_EACH_REQUEST": False,
        "WTF_CSRF_TIME_LIMIT": settings.session_absolute_hours * 3600,
        "BABEL_DEFAULT_LOCALE": settings.default_locale,
        "BABEL_DEFAULT_TIMEZONE": settings.timezone,
        "RATELIMIT_STORAGE_URI": settings.rate_limit_storage_uri,
        "RATELIMIT_HEADERS_ENABLED": True,
    }


def _init_extensions(app: Flask, ext: Any, locale_selector: Any) -> None:
    from app.core import dbpool

    ext.db.init_app(app)
    with app.app_context():
        for engine in ext.db.engines.values():
            dbpool.install(engine)
    ext.migrate.init_app(app, ext.db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=locale_selector)
    ext.limiter.init_app(app)
    ext.login_manager.init_app(app)
    ext.login_manager.session_protection = None  # server-side login sessions do this job
    ext.login_manager.login_view = "portal.login"
    ext.login_manager.login_message = None
    from app.auth import web  # noqa: F401  (registers the user loader)
    _import_models()


def _import_models() -> None:
    """Every model module, so metadata (migrations, the DB definition document) sees all tables."""
    import app.analytics.models
    import app.articles.models
    import app.audit.models
    import app.auth.models
    import app.codes.models
    import app.correspondence.models
    import app.documents.models
    import app.events.models
    import app.imports.models
    import app.inbox.models
    import app.inquiries.models
    import app.lifecycle.models
    import app.mail.models
    import app.matching.models
    import app.news.models
    import app.outputs.models
    import app.pamphlet.models
    import app.postings.models
    import app.registrants.models
    import app.searches.models
    import app.staff.models
    import app.surveys.models
    import app.sync.models  # noqa: F401


# every module with a `bp` Blueprint; staff ones are made with app.admin.staff_blueprint
BLUEPRINT_MODULES = (
    "app.core.health",
    "app.core.i18n",
    "app.portal.views",
    "app.portal.account_views",
    "app.portal.signup_views",
    "app.admin.views",
    "app.registrants.views",
    "app.mail.views",
    "app.imports.views",
    "app.lifecycle.views",
    "app.lifecycle.admin",
    "app.handover.views",
    "app.sync.views",
    "app.correspondence.views",
    "app.searches.views",
    "app.outputs.views",
    "app.mail.compose_views",
    "app.mail.unsubscribe_views",
    "app.documents.views",
    "app.codes.views",
    "app.news.views",
    "app.staff.views",
    "app.postings.views",
    "app.postings.portal_views",
    "app.matching.views",
    "app.surveys.views",
    "app.surveys.portal_views",
    "app.articles.views",
    "app.articles.portal_views",
    "app.inbox.views",
    "app.inbox.portal_views",
    "app.events.views",
    "app.events.portal_views",
    "app.inquiries.views",
    "app.inquiries.portal_views",
    "app.analytics.views",
    "app.pamphlet.views",
    "app.pwa.views",
)


def _register_blueprints(app: Flask) -> None:
    from importlib import import_module

    from app.admin import STAFF_BLUEPRINTS, admin_nav
    from app.extensions import login_manager

    for module in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(module).bp)
    app.add_template_global(admin_nav)
    login_manager.blueprint_login_views = {"portal": "portal.login"} | {
        name: "admin.login" for name in STAFF_BLUEPRINTS}
