"""Composing mail to registrants: templates, preview, test send, scheduled send (S-A3)."""

from __future__ import annotations

from app.admin import staff_blueprint

bp = staff_blueprint("mail_compose", __name__, "/admin/mail/compose")
