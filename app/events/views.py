"""Staff screens for events: editing, RSVPs, attendee export and attendance."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("events_admin", __name__, "/admin/events")
