"""Page-view recording: one small insert per registrant-portal page view (filled in by the analytics work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the after-request hook that records page views."""
