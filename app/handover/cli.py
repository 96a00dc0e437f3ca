"""`flask handover export DIR` / `flask handover import DIR|ZIP`: the hand-over package (N2)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from app.extensions import db
from app.handover.services import HandoverError, export_package, import_package

handover_cli = AppGroup("handover", help="Hand-over package of all registrant data (N2).")


def _progress(step: str, done: int, total: int) -> None:
    click.echo(f"  {step}: {done}/{total}", file=sys.stderr)


@handover_cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write the package (CSV, xlsx, manifest, schema) into DIRECTORY, which must be new or empty."""
    try:
        manifest = export_package(db.session, directory, progress=_progress)
    except HandoverError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    counts = ", ".join(f"{name} {count}" for name, count in manifest["counts"].items())
    click.echo(f"hand-over package written to {directory}: {counts}")
    for name, info in manifest["files"].items():
        click.echo(f"  {info['sha256']}  {name}")


@handover_cli.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
def import_(source: Path) -> None:
    """Import a package folder (or its .zip) into this installation, which must have no registrants."""
    try:
        report = import_package(db.session, source, progress=_progress)
    except HandoverError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    counts = ", ".join(f"{name} {count}" for name, count in report.counts.items())
    click.echo(f"hand-over package imported: {counts}; code-master entries created {report.codes_created}, "
               f"referral codes created {report.referral_codes_created}")
