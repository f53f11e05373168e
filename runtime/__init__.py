"""The small runtime every service shares: settings, logging, event store, command bus."""
