"""Code-master maintenance (S-A11)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("codes_admin", __name__, "/admin/codes")
