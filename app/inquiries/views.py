"""Staff screens for inquiries: the list and replies."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("inquiries_admin", __name__, "/admin/inquiries")
