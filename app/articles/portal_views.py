"""Published articles for registrants, and uploaded images served by id."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_articles", __name__, url_prefix="/articles")
