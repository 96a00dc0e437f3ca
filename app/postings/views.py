"""Job posting screens for staff (S-A12)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("postings_admin", __name__, "/admin/postings")
