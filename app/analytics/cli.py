"""`flask analytics ...` (daily summaries) and `flask report ...` (the monthly and fiscal-year reports)."""

from __future__ import annotations

from flask.cli import AppGroup

analytics_cli = AppGroup("analytics", help="First-party usage analytics.")
report_cli = AppGroup("report", help="The monthly report and the fiscal-year summary (.xlsx with charts).")
