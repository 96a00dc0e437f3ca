"""Fictitious demo data: code masters, registrants with Japanese names, one staff user per role."""
