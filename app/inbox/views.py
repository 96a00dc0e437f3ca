"""Staff screens for bulk messages and their read state."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("messages_admin", __name__, "/admin/messages")
