"""The fiscal-year lifecycle of a registration (S5): renewal reminders, renewal, expiry, anonymisation."""
