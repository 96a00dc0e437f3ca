"""Bulk messages (N6): an in-app inbox with read state, and e-mail through the outbox for those who consented."""
