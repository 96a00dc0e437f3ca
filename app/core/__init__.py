"""Pieces every capability shares: time, forms, security headers, errors, health."""
