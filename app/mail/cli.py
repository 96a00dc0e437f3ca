"""`flask mail send`: deliver due outbox mail once (a systemd timer or the worker loop calls it)."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.mail.services import deliver_due

mail_cli = AppGroup("mail", help="The mail outbox.")


@mail_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep running, checking the outbox every --interval seconds.")
@click.option("--interval", default=10, show_default=True, type=click.IntRange(1, 3600))
def send(loop: bool, interval: int) -> None:
    """Send the mail that is due through the configured SMTP relay."""
    settings = current_app.extensions["tsunagu.settings"]
    while True:
        report = deliver_due(db.session, settings)
        if report.sent or report.retried or report.failed or not loop:
            click.echo(f"mail: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
        if not loop:
            return
        db.session.remove()
        time.sleep(interval)
