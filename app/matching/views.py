"""Match lists, the pipeline and the score weights (S-A13)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("matching_admin", __name__, "/admin/matching")
