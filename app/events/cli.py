"""`flask events ...`: the reminder batch for exchange events."""

from __future__ import annotations

from flask.cli import AppGroup

events_cli = AppGroup("events", help="Exchange events (reminders).")
