"""Audit history (監査履歴). Everyone calls `audit.record(...)`."""

from app.audit.services import SYSTEM, record, verify_chain

__all__ = ["SYSTEM", "record", "verify_chain"]
