"""External-code reservations in a JetStream KV bucket: one key per code, claimed atomically.

A code is reserved *before* the event that gives it to a member is appended:
``create`` (= expected revision 0) lets exactly one of two racing enrolments through, across
every roster instance. The value names the member; the stream stays the truth about who holds
the code, so a reservation is *stale* when the member it names does not carry the code (it was
never enrolled, or moved to another code) and it is older than a grace period that covers an
enrolment in flight. A stale reservation is reclaimed with an expected-revision update, so two
reclaimers cannot both win either.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from runtime.eventstore import ConcurrencyConflict
from services.roster.domain.members import code_key

BUCKET = "roster_external_codes"
DEFAULT_GRACE = timedelta(seconds=60)

Holds = Callable[[str], Awaitable[bool]]
"""``holds(member_id)``: does that member's current state carry the code?"""


def kv_key(code: str) -> str:
    """KV keys allow only ``[-/_=.a-zA-Z0-9]``; codes are any text (Vietnamese included)."""
    raw = code_key(code).encode()
    return "c_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CodeReservations:
    def __init__(self, bucket: str = BUCKET, grace: timedelta = DEFAULT_GRACE) -> None:
        self.bucket = bucket
        self.grace = grace
        self._kv: KeyValue | None = None

    async def open(self, js: JetStreamContext, replicas: int = 1) -> None:
        try:
            self._kv = await js.key_value(self.bucket)
        except BucketNotFoundError:
            self._kv = await js.create_key_value(
                bucket=self.bucket,
                history=1,
                replicas=replicas,
                description="roster external codes -> member",
            )

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("code reservations not opened")
        return self._kv

    async def holder(self, code: str) -> str | None:
        try:
            entry = await self.kv.get(kv_key(code))
        except KeyNotFoundError:
            return None
        return str(json.loads(entry.value or b"{}").get("member_id")) if entry.value else None

    async def reserve(self, code: str, member_id: str, now: datetime, holds: Holds) -> str:
        """Reserve ``code`` for ``member_id``; returns the member the code belongs to after the
        attempt (``member_id`` on success, another member's id when the code is taken)."""
        key = kv_key(code)
        value = json.dumps(
            {"member_id": member_id, "code": code, "reserved_at": now.isoformat()}
        ).encode()
        for _ in range(8):
            try:
                await self.kv.create(key, value)
                return member_id
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue  # released meanwhile: try to create again
            held = json.loads(entry.value or b"{}")
            other = str(held.get("member_id"))
            if other == member_id:
                return member_id  # our own earlier attempt (a retried command)
            if await holds(other):
                return other
            reserved_at = datetime.fromisoformat(held["reserved_at"])
            if now - reserved_at < self.grace:
                return other  # maybe an enrolment in flight: not stale yet
            try:
                await self.kv.update(key, value, last=entry.revision)
                return member_id  # reclaimed a stale reservation
            except KeyWrongLastSequenceError:
                continue  # someone else reclaimed or changed it first: look again
        raise ConcurrencyConflict(f"kv:{self.bucket}:{key}", 0, "reservation kept moving")

    async def backfill(self, held: Iterable[tuple[str, str]]) -> int:
        """Reserve ``(member_id, code)`` pairs the stream says are held but the bucket lacks
        (a bucket lost or created after the events); returns how many were added."""
        added = 0
        for member_id, code in held:
            value = json.dumps(
                {
                    "member_id": member_id,
                    "code": code,
                    "reserved_at": datetime.min.replace(tzinfo=UTC).isoformat(),
                }
            )
            try:
                await self.kv.create(kv_key(code), value.encode())
                added += 1
            except KeyWrongLastSequenceError:
                pass  # already reserved (by this member, or contested: reserve() decides)
        return added

    async def release(self, code: str, member_id: str) -> None:
        """Free ``code`` if its reservation still names ``member_id`` (best effort: a leftover is
        stale anyway once the member no longer carries the code)."""
        key = kv_key(code)
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return
        if json.loads(entry.value or b"{}").get("member_id") != member_id:
            return
        try:
            await self.kv.delete(key, last=entry.revision)
        except KeyWrongLastSequenceError:
            pass
