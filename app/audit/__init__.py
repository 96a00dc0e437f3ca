"""Audit history (監査履歴). Everyone calls `audit.record(...)`."""

from app.audit.services import SYSTEM, record, search_events, verify_chain

__all__ = ["SYSTEM", "record", "search_events", "verify_chain"]
