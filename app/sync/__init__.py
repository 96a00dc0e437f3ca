"""Synchronisation with the prefecture's e-application system (S1)."""
