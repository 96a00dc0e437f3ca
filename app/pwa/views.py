"""Web app manifest, service worker and offline page of the registrant portal."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pwa", __name__)
