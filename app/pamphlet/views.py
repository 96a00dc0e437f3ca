"""Staff edit and print the registration pamphlet."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("pamphlet_admin", __name__, "/admin/pamphlet")
