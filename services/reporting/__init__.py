"""Reporting: read models of every stream; annual summaries."""
