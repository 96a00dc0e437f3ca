"""`flask import csv FILE [--mapping NAME] [--commit]`: preview a registrant CSV and, if it is clean, import it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit
from app.extensions import db
from app.imports import services

import_cli = AppGroup("import", help="Import registrant records from files.")
PROGRESS_FROM = 1000  # rows; smaller files finish before a progress bar would be worth drawing


class _Progress:
    """click progress bars on stderr, one per phase (check, apply), for large files only."""

    LABELS = {"check": "checking rows", "apply": "importing rows"}

    def __init__(self) -> None:
        self.bar: Any = None
        self.phase = ""
        self.done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total < PROGRESS_FROM:
            return
        if phase != self.phase:
            self.close()
            self.phase, self.done = phase, 0
            self.bar = click.progressbar(length=total, label=self.LABELS.get(phase, phase), file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _print_preview(preview: services.Preview, encoding: str, mapping_name: str) -> None:
    click.echo(f"encoding: {services.ENCODING_LABELS.get(encoding, encoding)}")
    click.echo(f"mapping: {mapping_name}")
    if preview.columns.unmapped:
        click.echo("columns not imported: " + ", ".join(preview.columns.unmapped))
    for message in preview.file_errors:
        click.echo(f"error: {message}", err=True)
    if preview.file_errors:
        return
    click.echo(f"rows: {preview.data_rows}")
    for action in (services.Action.CREATE, services.Action.UPDATE, services.Action.UNCHANGED,
                   services.Action.DUPLICATE):
        click.echo(f"  {action}: {preview.count(action)}")
    click.echo(f"  rows with errors: {preview.error_rows}")
    for hint in preview.duplicates:
        other = f"row {hint.other_row}" if hint.other_row else f"registrant #{hint.registrant_id}"
        click.echo(f"duplicate: row {hint.row} ({hint.record_id}) {hint.reason} as {other}")
    for error in preview.row_errors:
        column = f" [{error.column}]" if error.column else ""
        click.echo(f"row {error.row}{column}: {error.message}", err=True)


@import_cli.command("csv")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_name", default=None, help="Saved column mapping to use (default: best match).")
@click.option("--commit", is_flag=True, help="Import the file if it has no errors (all rows or none).")
def import_csv(path: Path, mapping_name: str | None, commit: bool) -> None:
    """Check FILE (UTF-8, UTF-8 with BOM or Shift_JIS) and print what importing it would do.

    Row errors go to stderr and the exit status is 1 when there are any; with --commit a clean
    file is imported in one transaction and new registrants are sent their invitation.
    """
    with path.open("rb") as fh:
        raw = fh.read(services.MAX_FILE_BYTES + 1)  # one byte over is enough for decode() to refuse it
    progress = _Progress()
    try:
        text, encoding = services.decode(raw)
        parsed = services.parse(text)
        mapping = services.choose_mapping(db.session, parsed.headers, mapping_name)
        preview = services.build_preview(db.session, parsed, services.mapping_columns(mapping), progress)
    except services.ImportFileError as exc:
        db.session.rollback()
        _fail(exc.message)
    except services.MappingError as exc:
        db.session.rollback()
        names = ", ".join(m.name for m in services.list_mappings(db.session)) or "-"
        _fail(f"{'; '.join(exc.messages)} (saved mappings: {names})")
    finally:
        progress.close()
    _print_preview(preview, encoding, mapping.name)
    if not preview.can_commit:
        db.session.commit()  # keeps the standard mapping if this run created it
        sys.exit(1)
    if not commit:
        db.session.commit()
        click.echo("no errors; run again with --commit to import")
        return
    settings = current_app.extensions["tsunagu.settings"]
    try:
        batch, _ = services.create_batch(db.session, audit.SYSTEM, filename=path.name, raw=raw, mapping_id=mapping.id)
        run = services.commit_batch(db.session, settings, audit.SYSTEM, batch, trigger="manual", progress=progress)
    except services.CommitRefused as exc:
        for message in exc.messages:
            click.echo(f"error: {message}", err=True)
        sys.exit(1)
    finally:
        progress.close()
    click.echo(f"imported: created {run.created}, updated {run.updated}, unchanged {run.unchanged}, "
               f"held as duplicates {run.duplicates} (run #{run.id}, batch #{batch.id})")
