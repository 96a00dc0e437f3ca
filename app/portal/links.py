"""One-time links from mails (invitation, password reset, e-mail verification).

The token travels in the URL path of the mailed link. To keep it out of browser history, of
`Referer` headers and of server logs as far as the application can:

* the link's GET only moves the token into the (signed, HttpOnly) session cookie and redirects to a
  token-less page; that page and the redirect carry ``Referrer-Policy: no-referrer``;
* nothing changes on a GET (mail scanners pre-fetch links): the token is used by the form's POST;
* a logging filter on the access loggers (gunicorn, werkzeug) and the app's own error loggers
  replaces the token in any logged path with ``[redacted]``. The reverse proxy's own access log
  (Apache) must do the same; see docs/operations.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import redirect, session, url_for

from app.auth.tokens import Purpose

F = TypeVar("F", bound=Callable[..., Any])

# the token-carrying paths of the mailed links; the token is URL-safe base64 (secrets.token_urlsafe)
LINK_PATHS = {Purpose.INVITE: "/account/setup/", Purpose.RESET: "/account/reset/", Purpose.VERIFY: "/register/verify/"}
_TOKEN_IN_PATH = re.compile(r"(/account/setup/|/account/reset/|/register/verify/)[A-Za-z0-9_\-%.~]+")
REDACTED = "[redacted]"
# loggers that may see a request path: the access logs and the app's own error logs
REDACTED_LOGGERS = ("gunicorn.access", "gunicorn.error", "werkzeug", "tsunagu.errors", "tsunagu.admin")
_SESSION_KEY = "link_{purpose}"


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(lambda m: m.group(1) + REDACTED, text)


class RedactLinkTokens(logging.Filter):
    """Rewrite log records so that no one-time token reaches a log file.

    gunicorn passes its access-log atoms as a dict subclass (missing keys format as "-"), so the
    dict is changed in place rather than replaced.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        args = record.args
        if isinstance(args, dict):
            for key, value in list(args.items()):
                if isinstance(value, str):
                    args[key] = redact(value)
        elif isinstance(args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def install_log_redaction() -> None:
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactLinkTokens) for existing in logger.filters):
            logger.addFilter(RedactLinkTokens())


def stash(purpose: Purpose, token: str, endpoint: str) -> Any:
    """The GET of a mailed link: keep the token in the session and go to the token-less page."""
    session[_SESSION_KEY.format(purpose=purpose.value)] = token[:100]
    return redirect(url_for(endpoint))


def stashed(purpose: Purpose) -> str | None:
    value = session.get(_SESSION_KEY.format(purpose=purpose.value))
    return value if isinstance(value, str) and value else None


def forget(purpose: Purpose) -> None:
    session.pop(_SESSION_KEY.format(purpose=purpose.value), None)


def no_referrer(view: F) -> F:
    """Pages reached from a one-time link send no Referer anywhere (links, images, form posts)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from flask import make_response

        response = make_response(view(*args, **kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper  # type: ignore[return-value]
