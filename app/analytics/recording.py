"""Page-view recording: one small insert per registrant-side page view, first-party only.

The row holds the time, the view's endpoint name, the first integer URL argument (an article id, say)
and the logged-in registrant's id. Never a URL, query string, IP address or user agent. The insert runs on
its own connection in autocommit mode (a transaction of its own) after the page is built, so it never
touches the request's session; a failure is logged and the page is served all the same.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from sqlalchemy.engine import Engine

from app.core.timeutil import utcnow

log = logging.getLogger("tsunagu.analytics")
LOGIN_ENDPOINT = "auth.login"
# blueprints of the registrant side; admin, static, health and language switching are never recorded
REGISTRANT_BLUEPRINTS = frozenset({"portal", "signup", "account", "lifecycle", "pwa"})
# the service worker fetches the offline page to cache it: that is no visit
UNRECORDED_ENDPOINTS = frozenset({"pwa.offline"})
ENDPOINT_MAX = 64
ENGINE_KEY = "tsunagu.analytics_engine"
_ENGINE_LOCK = threading.Lock()


def init_app(app: Flask) -> None:
    """Install the after-request hook that records page views."""
    app.after_request(_after_request)


def is_recorded_endpoint(endpoint: str | None) -> bool:
    if not endpoint or "." not in endpoint or endpoint in UNRECORDED_ENDPOINTS:
        return False
    blueprint = endpoint.split(".", 1)[0]
    return blueprint in REGISTRANT_BLUEPRINTS or blueprint.startswith("portal_")


def _after_request(response: Response) -> Response:
    if (request.method == "GET" and response.status_code == 200 and response.mimetype == "text/html"
            and is_recorded_endpoint(request.endpoint)
            and current_app.extensions["tsunagu.settings"].analytics_record_page_views):
        insert_view(str(request.endpoint), _subject_id(request.view_args), _registrant_id())
    return response


def record_login(registrant_id: int) -> None:
    """A registrant's successful login, as a page view with endpoint "auth.login" (if recording is on)."""
    if current_app.extensions["tsunagu.settings"].analytics_record_page_views:
        insert_view(LOGIN_ENDPOINT, None, registrant_id)


def recording_engine(app: Flask) -> Engine:
    """The app's engine for page-view inserts: the same database, autocommit (the INSERT is the whole
    transaction), no ping on checkout and no reset on return, so a view costs one round trip.

    A connection the server dropped fails one insert (logged) and is then replaced; pool_recycle keeps
    idle ones younger than the server's wait_timeout.
    """
    engine = app.extensions.get(ENGINE_KEY)
    if engine is None:
        with _ENGINE_LOCK:
            engine = app.extensions.get(ENGINE_KEY)
            if engine is None:
                from app.extensions import db

                with app.app_context():
                    url = db.engine.url
                engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                                          pool_reset_on_return=None, pool_recycle=3600, pool_size=1, max_overflow=8)
                weakref.finalize(app, engine.dispose)
                app.extensions[ENGINE_KEY] = engine
    return engine


def insert_view(endpoint: str, subject_id: int | None, registrant_id: int | None) -> bool:
    """One Core INSERT on its own connection; False (and a warning) if the database refused it."""
    from app.analytics.models import PageView

    try:
        with recording_engine(current_app._get_current_object()).connect() as conn:  # type: ignore[attr-defined]
            conn.execute(PageView.__table__.insert(), {
                "viewed_at": utcnow().replace(microsecond=0), "endpoint": endpoint[:ENDPOINT_MAX],
                "subject_id": subject_id, "registrant_id": registrant_id})
    except Exception as exc:  # never let bookkeeping break the page
        log.warning("page view not recorded (endpoint %s): %s", endpoint, type(exc).__name__)
        return False
    return True


def _subject_id(view_args: dict[str, Any] | None) -> int | None:
    for value in (view_args or {}).values():
        if isinstance(value, int) and not isinstance(value, bool):
            return value if 0 <= value < 2**31 else None
    return None


def _registrant_id() -> int | None:
    from app.auth.web import is_registrant

    try:
        if is_registrant():
            from flask_login import current_user

            return int(current_user.id)
    except Exception as exc:  # a user loader that fails here must not break the page either
        log.warning("page view without registrant: %s", type(exc).__name__)
    return None
