"""Mail: the outbox every capability writes to, and the worker that sends it."""
