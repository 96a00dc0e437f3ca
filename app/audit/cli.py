"""`flask audit verify`: walk the hash chain and report the first tampered row."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.audit.services import verify_chain
from app.extensions import db

audit_cli = AppGroup("audit", help="Audit history.")


@audit_cli.command("verify")
def verify() -> None:
    """Exit 0 if the chain is intact; otherwise name the first bad row and exit 1."""
    report = verify_chain(db.session)
    if report.intact:
        click.echo(f"audit chain intact: {report.checked} rows checked")
        return
    click.echo(f"audit chain BROKEN at seq {report.first_bad_seq}: {report.reason} "
               f"({report.checked} rows before it are intact)", err=True)
    sys.exit(1)
