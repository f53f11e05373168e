"""Audit: export, verify, replay and explain the event history without touching the live system.

Everything here reads the streams with JetStream direct gets only (no consumers, no writes), so
an auditor's read-only NATS credentials suffice. See docs/audit.md for what is guaranteed.
"""
