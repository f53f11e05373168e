"""Events: conferences (gatherings) and attendance."""
