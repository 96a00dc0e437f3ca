"""`flask demo load`: fill an empty database with fictitious demo data and print the logins."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.demo.services import demo_present, load_demo
from app.extensions import db

demo_cli = AppGroup("demo", help="Fictitious demo data.")
LOGINS_FILE = "demo-logins.txt"


@demo_cli.command("load")
@click.option("--registrants", "count", default=200, show_default=True, type=click.IntRange(1, 100000))
def load(count: int) -> None:
    """Load demo data once; the generated passwords go to instance/demo-logins.txt (mode 600)."""
    logins = []
    if not demo_present(db.session):
        with click.progressbar(length=count, label="creating demo registrants", file=sys.stderr) as bar:
            logins = load_demo(db.session, registrant_count=count, progress=bar.update)
    path = Path(current_app.instance_path) / LOGINS_FILE
    if logins:
        lines = [f"{login.kind:<10} {login.role:<13} {login.email:<28} {login.password}" for login in logins]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        click.echo(f"demo data loaded: {count} registrants, {len(logins) - 1} staff users")
    else:
        click.echo("demo data already present; nothing changed")
    if path.exists():
        click.echo(f"demo logins ({path}):")
        click.echo(path.read_text(encoding="utf-8").rstrip())
