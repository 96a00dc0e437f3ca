"""Inquiries (N9): a contact form for registrants that lands in correspondence history; staff reply from there."""
