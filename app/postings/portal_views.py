"""Open job postings shown to registrants in the portal (S-A12), when the setting allows it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_postings", __name__, url_prefix="/postings")
