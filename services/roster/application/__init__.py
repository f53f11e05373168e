"""Roster use cases: load what a rule needs, ask the domain, record what it decided."""
