"""Staff screens for surveys: builder, publishing, results and exports."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("surveys_admin", __name__, "/admin/surveys")
