"""Staff screens for articles and image uploads."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("articles_admin", __name__, "/admin/articles")
