"""Correspondence history (対応履歴, S-A4/S-A5)."""
