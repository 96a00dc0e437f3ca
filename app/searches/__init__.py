"""Registrant search (S-A2): criteria with negation, saved and shared searches, chosen columns."""
