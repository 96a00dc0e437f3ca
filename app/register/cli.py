"""`flask register personal-data`: who can view personal data, from the live database (docs/audit.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup

from app.extensions import db
from app.register.services import personal_data_register

register_cli = AppGroup("register", help="Registers for the auditors (who can view personal data).")


def _table(register: dict) -> None:
    for entry in register["staff"]:
        view = "can view personal data" if entry["can_view_personal_data"] else "no personal data"
        state = "enabled" if entry["enabled"] else "disabled"
        totp = "TOTP" if entry["totp_enabled"] else "no TOTP"
        click.echo(f"{entry['email']}\t{entry['role']}\t{state}\t{view}\t{totp}\t"
                   f"last login {entry['last_login_at'] or 'never'}")
    summary = register["summary"]
    click.echo(f"{summary['staff_accounts']} staff accounts, {summary['enabled_and_can_view']} enabled and able "
               "to view personal data")


@register_cli.command("personal-data")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              default=None, help="Write the register as JSON for the audit report; '-' writes it alone to stdout "
                                 "(run on a guest: tsunagu-flask register personal-data --json -).")
def personal_data(json_path: Path | None) -> None:
    """List every staff account with its role and whether it can view personal data."""
    register = personal_data_register(db.session)
    text = json.dumps(register, ensure_ascii=False, indent=2) + "\n"
    if json_path == Path("-"):
        click.echo(text, nl=False)
        return
    _table(register)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text, encoding="utf-8")
        click.echo(f"written to {json_path}")
