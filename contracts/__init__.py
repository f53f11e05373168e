"""What crosses a process boundary: events, commands, replies, subjects, schemas.

Everything here is pure data and pure functions; nothing of ours is imported.
"""
