"""The registrant's contact form."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_inquiries", __name__, url_prefix="/inquiries")
