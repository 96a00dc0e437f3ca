"""`flask staff create|unlock|reset-totp`: staff accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit
from app.auth import services as auth
from app.extensions import db
from app.staff import services
from app.staff.models import Role

staff_cli = AppGroup("staff", help="Manage staff (admin) accounts.")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default=None, help="Display name (defaults to the e-mail's local part).")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
def create(email: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create a staff user; the password is read from stdin so it never appears in shell history."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("no password on standard input")
    settings = current_app.extensions["tsunagu.settings"]
    try:
        user = services.create_staff(db.session, settings, audit.SYSTEM, email=email,
                                     display_name=display_name or email.split("@", 1)[0], role=role,
                                     password=password)
    except services.StaffError as exc:
        db.session.rollback()
        _fail("; ".join(exc.messages))
    click.echo(f"created staff user #{user.id} ({role})")


@staff_cli.command("unlock")
@click.argument("email")
def unlock(email: str) -> None:
    """Clear the lock-out of a staff user."""
    user = auth.find_account(db.session, "staff", email)
    if user is None:
        _fail("no staff user with that e-mail")
    auth.unlock(db.session, audit.SYSTEM, user)
    click.echo(f"unlocked staff user #{user.id}")


@staff_cli.command("reset-totp")
@click.argument("email")
def reset_totp(email: str) -> None:
    """Forget a staff user's two-factor key (lost phone); they enrol again at the next login if required."""
    user = auth.find_account(db.session, "staff", email)
    if user is None:
        _fail("no staff user with that e-mail")
    services.reset_totp(db.session, audit.SYSTEM, user)
    click.echo(f"two-factor login reset for staff user #{user.id}")
