"""Roster: organisational units and their members (reporters and propagandists)."""
