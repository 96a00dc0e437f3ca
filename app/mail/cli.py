"""`flask mail …`: the outbox worker, the bounce reader and the demo mail catcher.

    flask --app app mail worker [--once] [--interval 10] [--batch 100] [--stale-after 900]
    flask --app app mail send [--loop]              (the former name; same as worker --once / worker)
    flask --app app mail bounce < dsn.eml           (exit 2: not a delivery-status notification)
    flask --app app mail catcher [--port 8025]      (demo only; needs TSUNAGU_MAIL_CATCH_DIR)
    flask --app app mail posting-notices [--dry-run]  (hourly timer: new-posting notices to opted-in registrants)
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from datetime import timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.mail.services import STALE_SENDING, deliver_due

mail_cli = AppGroup("mail", help="The mail outbox.")
log = logging.getLogger("tsunagu.mail")


class _Stop:
    """SIGTERM/SIGINT end the worker after the message in hand (systemctl stop never cuts a send short)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, *_args: Any) -> bool:
        return self.requested

    def request(self, *_args: Any) -> None:
        self.requested = True


def run_worker(*, once: bool, interval: float, batch: int, stale_after: timedelta) -> None:
    stop = _Stop()
    previous = signal.signal(signal.SIGTERM, stop.request), signal.signal(signal.SIGINT, stop.request)
    try:
        _work(once=once, interval=interval, batch=batch, stale_after=stale_after, stop=stop)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def _work(*, once: bool, interval: float, batch: int, stale_after: timedelta, stop: _Stop) -> None:
    settings = current_app.extensions["tsunagu.settings"]
    totals = [0, 0, 0]
    while not stop():
        try:
            report = deliver_due(db.session, settings, batch, stale_after=stale_after, stop=stop)
        except SQLAlchemyError as exc:  # the database restarted or went away: wait, the rows are safe
            db.session.rollback()
            db.session.remove()
            log.warning("mail worker: database error (%s); retrying", type(exc).__name__)
            if once:
                raise click.ClickException(f"database error: {type(exc).__name__}") from None
            time.sleep(interval)
            continue
        totals = [totals[0] + report.sent, totals[1] + report.retried, totals[2] + report.failed]
        if report.sent or report.retried or report.failed:
            click.echo(f"mail: {report.sent} sent, {report.retried} to retry, {report.failed} failed"
                       + (" (hourly cap reached)" if report.rate_limited else "")
                       + (" (relay unreachable)" if report.relay_down else ""))
        elif report.rate_limited:
            click.echo("mail: hourly cap reached; the rest stays queued")
        db.session.remove()
        if report.busy:
            continue
        if once:
            break
        _sleep(interval, stop)
    if once:
        click.echo(f"mail: done ({totals[0]} sent, {totals[1]} to retry, {totals[2]} failed)")


def _sleep(seconds: float, stop: _Stop) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(min(0.2, seconds))


@mail_cli.command("worker")
@click.option("--once", is_flag=True, help="Send everything that is due now, then exit.")
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between looks at the outbox when it is idle.")
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1, 10000),
              help="Rows per round (one SMTP connection).")
@click.option("--stale-after", default=int(STALE_SENDING.total_seconds()), show_default=True,
              type=click.FloatRange(0, 86400),
              help="Seconds after which a row left 'sending' by a dead worker is sent again (same Message-ID).")
def worker(once: bool, interval: float, batch: int, stale_after: float) -> None:
    """Deliver the outbox through the configured SMTP relay (runs until stopped unless --once)."""
    run_worker(once=once, interval=interval, batch=batch, stale_after=timedelta(seconds=stale_after))


@mail_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep running (same as `mail worker`).")
@click.option("--interval", default=10, show_default=True, type=click.IntRange(1, 3600))
def send(loop: bool, interval: int) -> None:
    """Former name of `mail worker`: send what is due once (or keep running with --loop)."""
    run_worker(once=not loop, interval=interval, batch=100, stale_after=STALE_SENDING)


@mail_cli.command("bounce")
def bounce() -> None:
    """Read one delivery-status notification (RFC 3464) on stdin and mark / suppress the recipient."""
    from app.mail.bounces import MAX_DSN_BYTES, BounceError, apply_dsn, parse_dsn

    raw = sys.stdin.buffer.read(MAX_DSN_BYTES + 1)
    try:
        dsn = parse_dsn(raw)
    except BounceError as exc:
        click.echo(f"bounce: not a delivery status notification (RFC 3464): {exc}", err=True)
        sys.exit(2)
    for outcome in apply_dsn(db.session, dsn):
        if outcome.ignored:
            click.echo(f"bounce: {outcome.status or '-'} ignored ({outcome.ignored})")
        else:
            click.echo(f"bounce: {outcome.status} {'hard' if outcome.hard else 'soft'} outbox #{outcome.outbox_id}"
                       + (" address suppressed" if outcome.suppressed else ""))


@mail_cli.command("catcher")
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535))
def catcher(port: int) -> None:
    """Demo: receive mail on 127.0.0.1:PORT and save it as .eml in mail_catch_dir (read it in the admin)."""
    from aiosmtpd.controller import Controller

    from app.mail.catcher import SaveHandler, prepare_dir

    settings = current_app.extensions["tsunagu.settings"]
    if not settings.mail_catch_dir:
        raise click.ClickException("set TSUNAGU_MAIL_CATCH_DIR (where caught mail is stored) first")
    handler = SaveHandler(prepare_dir(settings.mail_catch_dir))
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop.request)
    signal.signal(signal.SIGINT, stop.request)
    controller.start()
    click.echo(f"mail catcher: listening on 127.0.0.1:{port}, saving to {settings.mail_catch_dir}")
    try:
        while not stop():
            time.sleep(0.5)
    finally:
        controller.stop()
        click.echo(f"mail catcher: stopped ({handler.count} caught)")


@mail_cli.command("posting-notices")
@click.option("--dry-run", is_flag=True, help="Count who would be told about which posting; queue nothing.")
@click.option("--quiet", is_flag=True, help="No progress lines (the summary is still printed).")
def posting_notices(dry_run: bool, quiet: bool) -> None:
    """Queue the new-posting notices: one mail per opted-in registrant listing the new open postings they fit."""
    from app.mail.posting_notices import run_notices

    settings = current_app.extensions["tsunagu.settings"]
    started = time.monotonic()

    def progress(step: str, done: int, total: int) -> None:
        if not quiet and (done == total or done % 100 == 0 or step == "registrants"):
            click.echo(f"  {step} {done}/{total}", err=True)

    try:
        report = run_notices(db.session, settings, dry_run=dry_run, progress=progress)
    except SQLAlchemyError as exc:  # finished steps are committed; a rerun continues where this one stopped
        db.session.rollback()
        log.warning("posting notices: database error (%s)", type(exc).__name__)
        raise click.ClickException(f"database error: {type(exc).__name__}; run again to continue") from None
    took = f"in {time.monotonic() - started:.1f} s"
    if dry_run:
        click.echo(f"posting notices (dry run): {report.postings} postings, {report.notices} posting notices"
                   f" would be made (one mail per registrant covers all of theirs) {took}")
        return
    click.echo(f"posting notices: {report.postings} postings, {report.queued} mails queued"
               f" ({report.notices} posting notices, {report.notified} postings done,"
               f" {report.skipped_addresses} unusable addresses, {report.contended} postings left for the next run)"
               f" {took}")
