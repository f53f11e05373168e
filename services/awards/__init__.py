"""Awards: collective and individual awards."""
