"""The auth log: one line per failed login or lock-out, for fail2ban.

Format (documented in docs/operations.md and matched by the fail2ban filter in
roles/fail2ban/files/tsunagu-auth.conf)::

    2026-11-21T09:15:02Z tsunagu-auth login_failure realm=admin ip=203.0.113.7 reason=bad_credentials
    2026-11-21T09:15:40Z tsunagu-auth account_locked realm=portal ip=203.0.113.7 account=registrant#12

No login name, e-mail or password is ever written: only the realm, the client IP
and, for lock-outs, the internal account number.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

LOGGER_NAME = "tsunagu.auth"
_SAFE_TOKEN = re.compile(r"[^A-Za-z0-9_.:#\-]")


class _UTCFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp} tsunagu-auth {record.getMessage()}"


def configure(path: str) -> logging.Logger:
    """Point the auth logger at `path` (once per path; safe to call for every app)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    target = str(Path(path).resolve())
    for handler in list(logger.handlers):
        if getattr(handler, "baseFilename", None) == target:
            return logger
        logger.removeHandler(handler)
        handler.close()
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, encoding="utf-8", delay=False)
    handler.setFormatter(_UTCFormatter())
    logger.addHandler(handler)
    return logger


def _token(value: str) -> str:
    return _SAFE_TOKEN.sub("_", value)[:64] or "-"


def login_failure(realm: str, ip: str, reason: str) -> None:
    logging.getLogger(LOGGER_NAME).info(
        "login_failure realm=%s ip=%s reason=%s", _token(realm), _token(ip), _token(reason)
    )


def account_locked(realm: str, ip: str, account: str) -> None:
    logging.getLogger(LOGGER_NAME).info(
        "account_locked realm=%s ip=%s account=%s", _token(realm), _token(ip), _token(account)
    )
