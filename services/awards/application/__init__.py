"""Awards use cases: command handlers and queries."""
