"""Output history screens (S-A6/A7)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("outputs_admin", __name__, "/admin/outputs")
