"""Application form (採用志願書) templates and downloads, and reports (S-A8/A9)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("documents_admin", __name__, "/admin/documents")
