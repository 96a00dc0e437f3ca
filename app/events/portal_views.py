"""Events for registrants: list, RSVP, cancellation."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal_events", __name__, url_prefix="/events")
