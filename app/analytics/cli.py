"""`flask analytics ...` (daily summaries) and `flask report ...` (the monthly and fiscal-year reports)."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from app import audit
from app.extensions import db

analytics_cli = AppGroup("analytics", help="First-party usage analytics.")
report_cli = AppGroup("report", help="The monthly report and the fiscal-year summary (.xlsx with charts).")


@analytics_cli.command("rollup")
@click.option("--days", type=click.IntRange(1, 3660), default=None,
              help="Only the last N closed days (default: every day since the first recorded view).")
def rollup_command(days: int | None) -> None:
    """Summarise page views per Tokyo day (page_view_daily, active_day) for closed days not yet done.

    Safe to run at any time and as often as wanted (the nightly timer runs it): a day already summarised
    is skipped.
    """
    from app.analytics.rollup import rollup

    def progress(done: int, total: int, day: date) -> None:
        click.echo(f"  {day.isoformat()}  {done}/{total}", err=True)

    result = rollup(db.session, days=days, progress=progress)
    note = f", {result.skipped} skipped (another run or an error; see the log)" if result.skipped else ""
    click.echo(f"analytics rollup: {len(result.done)} day(s) summarised{note}")
    if result.skipped:
        sys.exit(1)


def _progress(step: str) -> None:
    click.echo(f"  {step} …", err=True)


def _write(period: Any, output: Path | None) -> None:
    from app.analytics.report import produce

    target = output or Path.cwd() / period.filename
    if target.is_dir():
        target = target / period.filename
    if output is None and target.exists():
        click.echo(f"error: {target} exists; give --output to overwrite it or to write elsewhere", err=True)
        sys.exit(2)
    if not target.parent.is_dir():
        click.echo(f"error: the folder {target.parent} does not exist", err=True)
        sys.exit(2)
    produced = produce(db.session, period, audit.SYSTEM, "cli", progress=_progress)
    try:
        with target.open("wb") as handle:
            shutil.copyfileobj(produced.writer.rewound(), handle)
    except OSError as exc:
        click.echo(f"error: cannot write {target}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    finally:
        produced.writer.file.close()
    click.echo(f"{period.title}: {target} ({produced.writer.size:,} bytes, sha256 {produced.writer.sha256}, "
               f"output history #{produced.record.id})")


def _bad_input(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@report_cli.command("monthly")
@click.option("--month", "month_text", required=True, metavar="YYYY-MM", help="The month, e.g. 2026-10.")
@click.option("--output", type=click.Path(dir_okay=True, path_type=Path), default=None,
              help="Where to write the .xlsx (default: tsunagu-monthly-report-YYYY-MM.xlsx here).")
def monthly_command(month_text: str, output: Path | None) -> None:
    """The monthly report (月次報告書): registrants, access, messages, surveys, events with charts."""
    from app.analytics.report import ReportInputError, monthly_period, parse_month

    try:
        month = parse_month(month_text)
    except ReportInputError as exc:
        _bad_input(exc)
        return
    _write(monthly_period(month), output)


@report_cli.command("fiscal-year")
@click.option("--year", "year_text", required=True, metavar="YYYY", help="The fiscal year (April to March), e.g. 2026.")
@click.option("--output", type=click.Path(dir_okay=True, path_type=Path), default=None,
              help="Where to write the .xlsx (default: tsunagu-fiscal-year-report-YYYY.xlsx here).")
def fiscal_year_command(year_text: str, output: Path | None) -> None:
    """The fiscal-year summary (年度報告書): the same figures with one row per month, April to March."""
    from app.analytics.report import ReportInputError, fiscal_year_period, parse_fiscal_year

    try:
        year = parse_fiscal_year(year_text)
    except ReportInputError as exc:
        _bad_input(exc)
        return
    _write(fiscal_year_period(year), output)
