"""The registrant's in-app inbox."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_inbox", __name__, url_prefix="/inbox")
