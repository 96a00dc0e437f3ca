"""Registers every capability's `flask <group> ...` commands."""

from flask import Flask


def init_app(app: Flask) -> None:
    from app.audit.cli import audit_cli
    from app.demo.cli import demo_cli
    from app.mail.cli import mail_cli
    from app.staff.cli import staff_cli

    for group in (staff_cli, audit_cli, demo_cli, mail_cli):
        app.cli.add_command(group)
