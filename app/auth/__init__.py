"""Authentication for staff and registrants: passwords, lock-out, sessions, the auth log."""
