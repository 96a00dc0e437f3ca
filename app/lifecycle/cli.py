"""`flask lifecycle run`: the daily fiscal-year job (a systemd timer runs it at 00:30 Asia/Tokyo)."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.lifecycle.services import run_lifecycle, today_in_tokyo

lifecycle_cli = AppGroup("lifecycle", help="Fiscal-year lifecycle: renewal reminders, expiry, anonymisation.")


def _progress(step: str, done: int, total: int) -> None:
    click.echo(f"  {step}: {done}/{total}", file=sys.stderr)


@lifecycle_cli.command("run")
@click.option("--today", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Process this Tokyo calendar day instead of today (catch-up or rehearsal).")
def run(day: datetime | None) -> None:
    """Send due renewal reminders, expire unrenewed registrations, anonymise after the retention period."""
    settings = current_app.extensions["tsunagu.settings"]
    today = day.date() if day else today_in_tokyo()
    report = run_lifecycle(db.session, settings, today, progress=_progress)
    click.echo(f"lifecycle {report.today.isoformat()} (fiscal year {report.fiscal_year})")
    if report.reminder:
        note = " (catch-up)" if report.reminder_catch_up else ""
        click.echo(f"  renewal reminders: {report.reminders_sent} queued [{report.reminder}{note}]")
    else:
        click.echo("  renewal reminders: none due")
    click.echo(f"  expired: {report.expired}")
    click.echo(f"  anonymised: {report.anonymised}")
    click.echo(f"  set-aside source records deleted: {report.source_copies_purged}")
    for error in report.errors:
        click.echo(f"  warning: {error}", file=sys.stderr)
