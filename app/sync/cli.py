"""`flask sync run | status | stub`: the e-application sync from a timer or a shell (S1)."""

from __future__ import annotations

import secrets
import signal
import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.timeutil import to_tokyo
from app.extensions import db

sync_cli = AppGroup("sync", help="The e-application sync (S1).")

EXIT_FAILED, EXIT_LOCKED = 1, 2


def _local(moment: Any) -> str:
    return to_tokyo(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _stop_on_sigterm() -> None:
    """systemd stops a unit with SIGTERM: end like Ctrl-C, so the run is closed and the lock released."""
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@sync_cli.command("run")
@click.option("--trigger", default="manual", show_default=True, type=click.Choice(["manual", "timer"]),
              help="Recorded with the run: timer (systemd) or manual (a person).")
def run(trigger: str) -> None:
    """Run one sync now. Exit 1 when the run fails, 2 when another run holds the lock."""
    from app.sync import services

    settings = current_app.extensions["tsunagu.settings"]
    _stop_on_sigterm()

    def on_page(report: services.PageReport) -> None:
        c = report.counts
        click.echo(f"page {report.number}: fetched {c['fetched']}, created {c['created']}, updated {c['updated']}, "
                   f"unchanged {c['unchanged']}, quarantined {c['quarantined']}, duplicates {c['duplicates']}, "
                   f"failed {c['failed']}; cursor {report.cursor or '-'}", err=True)

    def on_retry(attempt: int, delay: float, reason: str) -> None:
        click.echo(f"retry {attempt}/{settings.sync_max_retries} in {delay:.1f} s: {reason}", err=True)

    try:
        result = services.run_sync(db.session, settings, trigger, progress=on_page, on_retry=on_retry)
    except services.SyncAlreadyRunning as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_LOCKED)
    except services.SyncError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    counts = ", ".join(f"{name} {getattr(result, name)}" for name in services.COUNTS)
    click.echo(f"sync run {result.id} {result.status}: {counts}; cursor {result.cursor_after or '-'}")
    if result.status != "succeeded":
        click.echo(f"error: {result.error}", err=True)
        sys.exit(EXIT_FAILED)


@sync_cli.command("status")
def status() -> None:
    """The cursor, the lock, open quarantine and duplicates, and the last runs."""
    from app.sync import services

    view = services.overview(db.session)
    click.echo(f"cursor:            {view.cursor or '- (next run fetches everything)'}")
    if view.lock_owner:
        click.echo(f"lock:              held by {view.lock_owner} until {_local(view.lock_expires_at)} (Asia/Tokyo)")
    else:
        click.echo("lock:              free")
    click.echo(f"quarantined:       {view.open_quarantine} open")
    click.echo(f"duplicates:        {view.open_duplicates} open")
    runs = services.recent_runs(db.session, limit=5)
    if not runs:
        click.echo("runs:              none yet")
    for item in runs:
        counts = " ".join(f"{name}={getattr(item, name)}" for name in services.COUNTS)
        click.echo(f"run {item.id:>5} {_local(item.started_at)} {item.trigger:<7} {item.status:<9} {counts}")
        if item.error:
            click.echo(f"          {item.error}")


@sync_cli.command("stub")
@click.option("--port", default=8801, show_default=True, type=click.IntRange(1, 65535))
@click.option("--records", "count", default=200, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", default=20260401, show_default=True, type=int, help="Same seed, same records.")
@click.option("--token", envvar="TSUNAGU_SYNC_API_TOKEN", default=None,
              help="Bearer token to require (default: $TSUNAGU_SYNC_API_TOKEN, else a random one that is printed).")
@click.option("--fail-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of /records requests that fail.")
@click.option("--fail-mode", default="500", show_default=True, type=click.Choice(["500", "503", "429", "401", "timeout",
                                                                                   "malformed", "bad_shape"]))
@click.option("--fail-next", default=0, show_default=True, type=click.IntRange(0), help="Fail the first N requests.")
@click.option("--fail-after-page", default=None, type=click.IntRange(0), help="Serve N pages, then fail.")
@click.option("--bad-records", default=0, show_default=True, type=click.IntRange(0), help="Invalid records to include.")
@click.option("--page-delay", default=0.0, show_default=True, type=click.FloatRange(0, 60), help="Seconds per page.")
@click.option("--quiet", is_flag=True, help="Do not log each request.")
def stub(port: int, count: int, seed: int, token: str | None, fail_rate: float, fail_mode: str, fail_next: int,
         fail_after_page: int | None, bad_records: int, page_delay: float, quiet: bool) -> None:
    """Serve the e-application API contract with fictitious records on 127.0.0.1 (development, demos, tests)."""
    from app.sync.stub import StubServer, StubState

    generated = not token
    token = token or secrets.token_urlsafe(24)
    state = StubState(count=count, seed=seed, token=token)
    control: dict[str, Any] = {"mode": fail_mode, "page_delay": page_delay}
    if fail_rate:
        control["fail_rate"] = fail_rate
    if fail_next:
        control["fail_next"] = fail_next
    if fail_after_page is not None:
        control["fail_after_page"] = fail_after_page
    if bad_records:
        control["bad_records"] = bad_records
    state.control(control)
    server = StubServer(state, port=port, quiet=quiet)
    click.echo(f"e-application stub: {count} records (seed {seed}) at {server.url}/records", err=True)
    click.echo(f"  TSUNAGU_SYNC_API_URL={server.url}", err=True)
    if generated:
        click.echo(f"  TSUNAGU_SYNC_API_TOKEN={token}    (generated; pass --token to choose one)", err=True)
    click.echo(f"  faults and changes: POST {server.url}/_control (see app/sync/stub.py); Ctrl-C stops", err=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
