"""Registrant search screens, saved searches and list exports (S-A2, S-A8)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("search_admin", __name__, "/admin/search")
