"""Exchange events (N14): RSVP with capacity and waitlist, reminders, attendee lists and attendance."""
