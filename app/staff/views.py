"""Staff users and two-factor login (S-A10/A15)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("staff_admin", __name__, "/admin/staff")
