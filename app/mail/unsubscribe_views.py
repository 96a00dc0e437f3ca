"""The public unsubscribe page a mail's List-Unsubscribe header points to (S-A3)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("unsubscribe", __name__, url_prefix="/mail/unsubscribe")
