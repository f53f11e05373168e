"""Follows the briefings AWARDS stream into a SQLite table of awards."""
