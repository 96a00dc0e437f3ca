"""`flask events ...`: the reminder batch for exchange events."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db

events_cli = AppGroup("events", help="Exchange events (reminders).")


def _progress(step: str, done: int, total: int) -> None:
    click.echo(f"  {step}: {done}/{total}", file=sys.stderr)


@events_cli.command("remind")
@click.option("--now", "right_now", is_flag=True,
              help="Send now, even before the configured event_reminder_hour (Asia/Tokyo).")
def remind(right_now: bool) -> None:
    """Queue the reminder mail for every going RSVP of the events starting tomorrow (once per RSVP)."""
    from app.events.services import remind as run

    settings = current_app.extensions["tsunagu.settings"]
    report = run(db.session, settings, force=right_now, progress=_progress)
    if report.too_early:
        click.echo(f"events remind {report.day}: before {settings.event_reminder_hour:02d}:00 Asia/Tokyo, "
                   "nothing sent (use --now to send anyway)")
        return
    click.echo(f"events remind: events starting {report.day}: {report.events}")
    click.echo(f"  reminders queued: {report.queued}")
    click.echo(f"  going but not reachable by mail (no consent, suppressed or inactive): {report.not_mailable}")
    for error in report.errors:
        click.echo(f"  warning: {error}", file=sys.stderr)
