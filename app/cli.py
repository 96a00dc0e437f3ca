"""Registers every capability's `flask <group> ...` commands."""

from flask import Flask


def init_app(app: Flask) -> None:
    from app.analytics.cli import analytics_cli, report_cli
    from app.articles.cli import articles_cli
    from app.audit.cli import audit_cli
    from app.demo.cli import demo_cli
    from app.events.cli import events_cli
    from app.handover.cli import handover_cli
    from app.imports.cli import import_cli
    from app.lifecycle.cli import lifecycle_cli
    from app.mail.cli import mail_cli
    from app.register.cli import register_cli
    from app.staff.cli import staff_cli
    from app.sync.cli import sync_cli

    for group in (staff_cli, audit_cli, demo_cli, mail_cli, lifecycle_cli, handover_cli, sync_cli, import_cli,
                  events_cli, analytics_cli, report_cli, articles_cli, register_cli):
        app.cli.add_command(group)
