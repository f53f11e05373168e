"""One asyncio lock per key (a command id, an aggregate): the one per-key lock of the runtime.

A lock lives only while someone holds it or waits on it (a weak-value map), so memory stays
flat however many keys pass.
"""

from __future__ import annotations

import asyncio
import weakref


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, key: str) -> asyncio.Lock:
        """The lock of ``key``; the caller must keep a reference while using it."""
        found = self._locks.get(key)
        if found is None:
            found = asyncio.Lock()
            self._locks[key] = found
        return found
