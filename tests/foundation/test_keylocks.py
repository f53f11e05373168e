"""The runtime's one per-key lock (command ids in the bus, conferences in the events handlers)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from runtime.keylocks import KeyedLocks

pytestmark = pytest.mark.fast


async def test_one_key_one_lock_while_used_and_none_kept_after() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.lock(key):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(hold("c1", "a"), hold("c1", "b"), hold("c2", "c"))
    # the two holders of c1 never interleave; c2 is not held up by them
    assert order.index("a out") < order.index("b in")
    assert order.index("c in") < order.index("b in")
    lock = locks.lock("c1")
    assert locks.lock("c1") is lock and locks.lock("c2") is not lock
    del lock
    gc.collect()
    assert len(locks._locks) == 0  # nothing kept for keys no one uses
