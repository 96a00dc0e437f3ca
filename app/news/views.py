"""News and YouTube links maintenance (S-A14/A16)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("news_admin", __name__, "/admin/news")
