"""The analytics dashboard and the monthly and fiscal-year report downloads."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("analytics_admin", __name__, "/admin/analytics")
